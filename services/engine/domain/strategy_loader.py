"""From a requested strategy type to the Nautilus strategy class that runs it (registry + lazy import).

Only classes named by installed packages' entry points are ever imported: a request carries a type
name and JSON parameters, never code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from services.engine.domain.errors import StrategyUnavailable
from services.engine.domain.strategies.base import SignalStrategy
from shared.strategy_types import ParameterError, StrategyTypeSpec, UnknownStrategyType, get_strategy_type


@dataclass(frozen=True)
class ResolvedStrategy:
    spec: StrategyTypeSpec
    strategy_class: type[SignalStrategy]
    parameters: dict[str, Any]  # validated, JSON values, defaults filled in


def resolve_strategy(strategy_type: str, parameters: Any) -> ResolvedStrategy:
    """The class and normalized parameters, or StrategyUnavailable saying what is wrong."""
    try:
        spec = get_strategy_type(strategy_type)
    except UnknownStrategyType as exc:
        raise StrategyUnavailable(
            f"{exc} (the engine runs registered strategy types only; an operator adds one by installing its package)"
        ) from None
    try:
        normalized = spec.normalized(parameters)
    except ParameterError as exc:
        raise StrategyUnavailable(f"parameters do not match {spec.name}: {exc}") from None
    module_name, _, attribute = spec.strategy_class.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:  # ImportError, AttributeError, or an error inside the plugin's module
        raise StrategyUnavailable(
            f"strategy type {spec.name} ({spec.distribution} {spec.version}): cannot import "
            f"{spec.strategy_class}: {type(exc).__name__}: {exc}"
        ) from None
    if not (isinstance(found, type) and issubclass(found, SignalStrategy)):
        raise StrategyUnavailable(
            f"strategy type {spec.name}: {spec.strategy_class} is not a subclass of "
            "services.engine.domain.strategies.base.SignalStrategy"
        )
    return ResolvedStrategy(spec, found, normalized)
