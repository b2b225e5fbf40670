"""The public strategy SDK: everything a strategy plugin imports, and nothing else of bts.

    from bts_sdk import Bar, Strategy, StrategyParameters, StrategyTypeSpec

    class MyParameters(StrategyParameters):          # typed parameters: a pydantic model
        lookback: int = Field(ge=2, le=500)

    class MyStrategy(Strategy[MyParameters]):        # one instance per instrument
        def on_bar(self, bar: Bar) -> int | None:   # +1 long, 0 flat, -1 short, None: keep
            ...

    MY_TYPE = StrategyTypeSpec(name="MY_TYPE", parameters=MyParameters, description="...",
                               strategy_class="my_package.strategy:MyStrategy")

registered under the entry-point group `bts.strategies` (ENTRY_POINT_GROUP). See docs/strategies.md.
Importing it imports neither NautilusTrader nor any service.
"""

from bts_sdk.loading import StrategyClassError, strategy_class
from bts_sdk.strategy import Bar, Strategy, has_screen
from shared.contracts.models.parameters import MeanReversionParameters, MomentumParameters, SmaCrossoverParameters
from shared.strategy_types import (
    ENTRY_POINT_GROUP,
    ParameterError,
    StrategyParameters,
    StrategyTypeSpec,
    UnknownStrategyType,
    get_strategy_type,
    registry,
    registry_problems,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Bar",
    "MeanReversionParameters",
    "MomentumParameters",
    "ParameterError",
    "SmaCrossoverParameters",
    "Strategy",
    "StrategyClassError",
    "StrategyParameters",
    "StrategyTypeSpec",
    "UnknownStrategyType",
    "get_strategy_type",
    "has_screen",
    "registry",
    "registry_problems",
    "strategy_class",
]
