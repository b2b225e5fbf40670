"""The built-in strategies, each a Nautilus strategy over a target-position signal.

They are found like plugins, through the registry (`shared.strategy_types`), whose specs name these
classes by their dotted paths; see services.engine.domain.strategy_loader.
"""

from services.engine.domain.strategies.base import SignalConfig, SignalStrategy
from services.engine.domain.strategies.mean_reversion import MeanReversion
from services.engine.domain.strategies.momentum import Momentum
from services.engine.domain.strategies.sma_crossover import SmaCrossover

__all__ = ["MeanReversion", "Momentum", "SignalConfig", "SignalStrategy", "SmaCrossover"]
