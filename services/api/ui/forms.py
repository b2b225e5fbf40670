"""Forms of the console, without I/O: fields built from a strategy type's parameter schema, form text turned
into typed values, and the API's field errors placed next to the form fields they are about."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.api.problems import FieldError


@dataclass(frozen=True)
class ParameterField:
    """One input of a strategy's parameters, from its JSON Schema property."""

    name: str
    kind: str  # integer, number, boolean or string
    default: Any
    minimum: float | None
    maximum: float | None
    description: str
    required: bool = False
    example: Any = None

    @property
    def input_name(self) -> str:
        return f"parameters.{self.name}"

    @property
    def step(self) -> str:
        return "1" if self.kind == "integer" else "any"


def parameter_fields(schema: Mapping[str, Any]) -> list[ParameterField]:
    """The inputs for a type's `parameters_schema` (JSON Schema of an object), in the schema's order."""
    fields = []
    required = set(schema.get("required") or [])
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type") or next((o.get("type") for o in prop.get("anyOf", []) if o.get("type")), "string")
        fields.append(
            ParameterField(
                name=name,
                kind=kind if kind in ("integer", "number", "boolean") else "string",
                default=prop.get("default"),
                minimum=prop.get("minimum", prop.get("exclusiveMinimum")),
                maximum=prop.get("maximum", prop.get("exclusiveMaximum")),
                description=prop.get("description") or prop.get("title") or "",
                required=name in required,
                example=(prop.get("examples") or [None])[0],
            )
        )
    return fields


def typed_value(kind: str, text: str) -> Any:
    """A form's text as the schema's type; text that does not parse is passed on as is, so the API's
    validation names the field and says what was expected."""
    text = text.strip()
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean":
        return text.lower() in ("on", "true", "1", "yes")
    return text


def parameter_values(fields: Iterable[ParameterField], form: Mapping[str, str]) -> dict[str, Any]:
    """The parameters a form sets (an empty input leaves the schema's default; an unchecked box is false)."""
    values: dict[str, Any] = {}
    for field in fields:
        text = form.get(field.input_name, "")
        if field.kind == "boolean":
            values[field.name] = typed_value("boolean", text or "false")
        elif text.strip():
            values[field.name] = typed_value(field.kind, text)
    return values


def split_list(text: str) -> list[str]:
    """`AAPL.NASDAQ, MSFT.NASDAQ` or one per line -> the items, upper-cased, blanks dropped."""
    return [item.strip().upper() for item in text.replace("\n", ",").split(",") if item.strip()]


@dataclass(frozen=True)
class PlacedErrors:
    """Errors keyed by the form field they belong to; `general` holds the ones no field of the form matches."""

    by_field: dict[str, list[str]]
    general: list[str]


def place_errors(errors: Iterable[FieldError], field_names: Iterable[str], detail: str | None = None) -> PlacedErrors:
    """Put each API error (`body.instrument_ids.0`, `body.parameters.fast_period`, `query.timeframe`) next to the
    form field whose name is the longest prefix of its path; the rest are general."""
    names = sorted(field_names, key=len, reverse=True)
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for error in errors:
        head, _, rest = error.field.partition(".")
        path = rest if head in ("body", "query", "path") and rest else error.field
        target = next((n for n in names if path == n or path.startswith(n + ".")), None)
        if target is None:
            general.append(f"{error.field}: {error.message}")
        else:
            by_field.setdefault(target, []).append(error.message)
    if not by_field and not general and detail:
        general.append(detail)
    return PlacedErrors(by_field, general)
