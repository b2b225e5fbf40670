"""The Nautilus side of every strategy type: one adapter runs any bts_sdk.Strategy (built-in or plugin).

The strategies themselves are found through the registry (`shared.strategy_types`), whose specs name
their classes by dotted paths; see services.engine.domain.strategy_loader.
"""

from services.engine.domain.strategies.base import SignalConfig, SignalStrategy

__all__ = ["SignalConfig", "SignalStrategy"]
