"""The three built-in strategy types, written with the SDK exactly as a plugin writes its own, and registered
through bts's entry points (shared.strategy_types.builtin names these classes by their dotted paths)."""

from bts_sdk.builtin.mean_reversion import MeanReversion
from bts_sdk.builtin.momentum import Momentum
from bts_sdk.builtin.sma_crossover import SmaCrossover

__all__ = ["MeanReversion", "Momentum", "SmaCrossover"]
