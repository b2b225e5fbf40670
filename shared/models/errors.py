"""Domain errors: raised by the state machines and read-only rules, with messages people can act on."""

from __future__ import annotations

from collections.abc import Iterable


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
