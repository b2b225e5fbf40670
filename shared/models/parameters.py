"""Typed parameter schemas per strategy type (the names ARCHITECTURE.md fixes). Unknown names are errors."""

from __future__ import annotations

from typing import Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.models.enums import StrategyType


class StrategyParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_short: bool = Field(default=False, description="also take short positions (long-only by default)")


class SmaCrossoverParameters(StrategyParameters):
    fast_period: int = Field(ge=1, description="bars in the fast simple moving average", examples=[10])
    slow_period: int = Field(ge=2, description="bars in the slow simple moving average", examples=[30])

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        if self.fast_period >= self.slow_period:
            raise ValueError(
                f"fast_period must be < slow_period (fast_period={self.fast_period}, slow_period={self.slow_period})"
            )
        return self


class MeanReversionParameters(StrategyParameters):
    lookback: int = Field(ge=2, description="bars in the mean and standard deviation", examples=[20])
    entry_z: float = Field(gt=0, description="enter when |z-score| reaches this", examples=[2.0])
    exit_z: float = Field(ge=0, description="exit when |z-score| falls back to this", examples=[0.5])

    @model_validator(mode="after")
    def _exit_inside_entry(self) -> Self:
        if self.exit_z >= self.entry_z:
            raise ValueError(f"exit_z must be < entry_z (exit_z={self.exit_z}, entry_z={self.entry_z})")
        return self


class MomentumParameters(StrategyParameters):
    lookback: int = Field(ge=1, description="bars over which the return is measured", examples=[20])
    threshold: float = Field(ge=0, description="return (a fraction, 0.02 = 2%) that triggers an entry", examples=[0.02])


PARAMETER_SCHEMAS: Final[dict[StrategyType, type[StrategyParameters]]] = {
    StrategyType.SMA_CROSSOVER: SmaCrossoverParameters,
    StrategyType.MEAN_REVERSION: MeanReversionParameters,
    StrategyType.MOMENTUM: MomentumParameters,
}


class ParameterError(ValueError):
    """Parameters that do not match their strategy type's schema; `errors` names each field."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = errors


def validate_parameters(strategy_type: StrategyType | str, parameters: dict[str, Any]) -> StrategyParameters:
    """The typed parameters, or ParameterError naming `parameters.<field>` and the rule."""
    if not parameters:
        raise ParameterError([("parameters", "at least one parameter is required")])
    schema = PARAMETER_SCHEMAS[StrategyType(strategy_type)]
    try:
        return schema.model_validate(parameters)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            loc = ".".join(str(p) for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown parameter for {StrategyType(strategy_type).value}; expected: " + ", ".join(
                    schema.model_fields
                )
            errors.append((f"parameters.{loc}" if loc else "parameters", message))
        raise ParameterError(errors) from None
