"""Strategy types as plugins: entry points of the group `bts.strategies` name StrategyTypeSpecs.

    from shared.strategy_types import registry
    registry()["SMA_CROSSOVER"].parameters        # the pydantic parameter model
    registry()["SMA_CROSSOVER"].json_schema()     # its JSON Schema

Importing this package imports neither NautilusTrader nor any service.
"""

from shared.strategy_types.parameters import ParameterError, StrategyParameters, parse_parameters
from shared.strategy_types.registry import (
    ENTRY_POINT_GROUP,
    UnknownStrategyType,
    get_strategy_type,
    registry,
    registry_problems,
    reload_registry,
    validate_parameters,
)
from shared.strategy_types.spec import NAME_PATTERN, StrategyTypeSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "NAME_PATTERN",
    "ParameterError",
    "StrategyParameters",
    "StrategyTypeSpec",
    "UnknownStrategyType",
    "get_strategy_type",
    "parse_parameters",
    "registry",
    "registry_problems",
    "reload_registry",
    "validate_parameters",
]
