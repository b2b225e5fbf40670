"""Domain errors: raised by the state machines and read-only rules, with messages people can act on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class DomainError(ValueError):
    """A rule of the data model was broken."""


class IllegalTransitionError(DomainError):
    def __init__(self, entity: str, current: str, target: str, allowed: Iterable[str]) -> None:
        allowed = sorted(allowed)
        options = ", ".join(allowed) if allowed else "none: it is final"
        super().__init__(f"{entity} cannot go from {current} to {target}; allowed from {current}: {options}")
        self.current, self.target = current, target


class ReadOnlyError(DomainError):
    """The entity is in a state that cannot be changed (an ARCHIVED strategy, a COMPLETED result)."""


@dataclass(frozen=True)
class FieldProblem:
    """One field that broke a rule: its dotted path and what was expected."""

    field: str
    message: str
    type: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def field_problems(errors: Iterable[Mapping[str, Any]], prefix: str = "", drop: int = 0) -> list[FieldProblem]:
    """pydantic's error details as field problems: the path without its first `drop` parts, behind `prefix`.

    REST and Kafka both describe a refused configuration with this, so the same mistake reads the same."""
    found = []
    for error in errors:
        path = [str(p) for p in tuple(error.get("loc", ()))[drop:]]
        field = ".".join([prefix, *path] if prefix else path) or prefix
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        found.append(FieldProblem(field=field, message=message, type=error.get("type")))
    return found


def summarize(problems: Sequence[object], limit: int = 5, max_chars: int = 300) -> str:
    """The first `limit` problems, each cut to `max_chars`, then "and N more": short enough for an event."""
    shown = [_cut(str(p), max_chars) for p in problems[:limit]]
    rest = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {rest} more" if rest > 0 else "")


def _cut(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."
