"""The base of every strategy's parameter model, and parameter errors that name each field.

Kept free of `shared.contracts.models` (and of NautilusTrader), so the registry can be imported anywhere.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.contracts.text_bounds import MAX_FIELD_CHARS, MAX_LISTED_ERRORS, clip


class StrategyParameters(BaseModel):
    """Subclass it for a strategy's parameters: unknown names are errors, and `allow_short` is always there."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # NaN/inf: never a parameter

    allow_short: bool = Field(default=False, description="also take short positions (long-only by default)")


class ParameterError(ValueError):
    """Parameters that do not match their strategy type's schema; `errors` names each field."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(clip("; ".join(f"{field}: {message}" for field, message in errors)))
        self.errors = errors


def parse_parameters(schema: type[StrategyParameters], type_name: str, parameters: Any) -> StrategyParameters:
    """`parameters` as `schema`, or ParameterError naming `parameters.<field>` and the rule."""
    if not isinstance(parameters, dict) or not parameters:
        raise ParameterError([("parameters", "at least one parameter is required (a JSON object)")])
    try:
        return schema.model_validate(parameters)
    except ValidationError as exc:
        errors = []
        unknown = 0
        for error in exc.errors():
            loc = clip(".".join(str(p) for p in error["loc"]), MAX_FIELD_CHARS)
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                unknown += 1
                if unknown > MAX_LISTED_ERRORS:  # a flood of unknown names: a few by name, then the count
                    continue
                message = f"unknown parameter for {type_name}; expected: " + ", ".join(schema.model_fields)
            errors.append((f"parameters.{loc}" if loc else "parameters", message))
        if unknown > MAX_LISTED_ERRORS:
            errors.append(("parameters", f"... and {unknown - MAX_LISTED_ERRORS:,} more unknown parameters"))
        raise ParameterError(errors) from None
