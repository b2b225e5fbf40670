"""From a requested strategy type to the SDK strategy class that runs it (registry + lazy import).

Only classes named by installed packages' entry points are ever imported: a request carries a type
name and JSON parameters, never code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bts_sdk import Strategy, StrategyClassError, StrategyParameters, strategy_class
from services.engine.domain.errors import StrategyUnavailable
from shared.strategy_types import ParameterError, StrategyTypeSpec, UnknownStrategyType, get_strategy_type


@dataclass(frozen=True)
class ResolvedStrategy:
    spec: StrategyTypeSpec
    strategy_class: type[Strategy[Any]]
    typed: StrategyParameters  # the parameter model's instance
    parameters: dict[str, Any]  # validated, JSON values, defaults filled in

    def make(self) -> Strategy[Any]:
        """A fresh strategy (one per instrument) with the run's typed parameters."""
        return self.strategy_class(self.typed)


def resolve_strategy(strategy_type: str, parameters: Any) -> ResolvedStrategy:
    """The class and validated parameters, or StrategyUnavailable saying what is wrong."""
    try:
        spec = get_strategy_type(strategy_type)
    except UnknownStrategyType as exc:
        raise StrategyUnavailable(
            f"{exc} (the engine runs registered strategy types only; an operator adds one by installing its package)"
        ) from None
    try:
        typed = spec.validate(parameters)
    except ParameterError as exc:
        raise StrategyUnavailable(f"parameters do not match {spec.name}: {exc}") from None
    try:
        found = strategy_class(spec)
    except StrategyClassError as exc:
        raise StrategyUnavailable(str(exc)) from None
    return ResolvedStrategy(spec, found, typed, typed.model_dump(mode="json"))
