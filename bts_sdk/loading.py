"""From a registered strategy type to its Strategy class (a lazy import of the path its spec names)."""

from __future__ import annotations

import importlib
from typing import Any

from bts_sdk.strategy import Strategy
from shared.strategy_types import StrategyTypeSpec


class StrategyClassError(ImportError):
    """The class a spec names cannot be imported, or is not a bts_sdk.Strategy."""


def strategy_class(spec: StrategyTypeSpec) -> type[Strategy[Any]]:
    """The Strategy subclass `spec.strategy_class` names, or StrategyClassError saying what is wrong."""
    module_name, _, attribute = spec.strategy_class.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:  # ImportError, AttributeError, or an error inside the plugin's module
        raise StrategyClassError(
            f"strategy type {spec.name} ({spec.distribution} {spec.version}): cannot import "
            f"{spec.strategy_class}: {type(exc).__name__}: {exc}"
        ) from None
    if not (isinstance(found, type) and issubclass(found, Strategy)):
        raise StrategyClassError(
            f"strategy type {spec.name}: {spec.strategy_class} is not a subclass of bts_sdk.Strategy"
        )
    return found
