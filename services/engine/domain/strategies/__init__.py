"""The built-in strategies, each a Nautilus strategy over a target-position signal."""

from services.engine.domain.strategies.base import SignalConfig, SignalStrategy
from services.engine.domain.strategies.mean_reversion import MeanReversion
from services.engine.domain.strategies.momentum import Momentum
from services.engine.domain.strategies.sma_crossover import SmaCrossover

STRATEGIES: dict[str, type[SignalStrategy]] = {
    "SMA_CROSSOVER": SmaCrossover,
    "MEAN_REVERSION": MeanReversion,
    "MOMENTUM": Momentum,
}

__all__ = ["STRATEGIES", "MeanReversion", "Momentum", "SignalConfig", "SignalStrategy", "SmaCrossover"]
