"""The three built-in strategy types, registered through bts's own entry points (pyproject.toml),
exactly as a plugin registers its own."""

from __future__ import annotations

from shared.contracts.models.enums import StrategyType
from shared.contracts.models.parameters import MeanReversionParameters, MomentumParameters, SmaCrossoverParameters
from shared.strategy_types.spec import StrategyTypeSpec

_BUILTIN = "bts_sdk.builtin"

SMA_CROSSOVER = StrategyTypeSpec(
    name=StrategyType.SMA_CROSSOVER.value,
    parameters=SmaCrossoverParameters,
    description="Long when the fast simple moving average crosses above the slow one; out (or short) when it "
    "crosses below.",
    strategy_class=f"{_BUILTIN}.sma_crossover:SmaCrossover",
)
MEAN_REVERSION = StrategyTypeSpec(
    name=StrategyType.MEAN_REVERSION.value,
    parameters=MeanReversionParameters,
    description="Z-score of the close against its lookback mean: enter beyond entry_z, exit back inside exit_z.",
    strategy_class=f"{_BUILTIN}.mean_reversion:MeanReversion",
)
MOMENTUM = StrategyTypeSpec(
    name=StrategyType.MOMENTUM.value,
    parameters=MomentumParameters,
    description="Long when the lookback return exceeds threshold; out when it turns negative (mirrored for shorts).",
    strategy_class=f"{_BUILTIN}.momentum:Momentum",
)
