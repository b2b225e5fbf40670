"""The Nautilus side of DONCHIAN_BREAKOUT: a target position from the channel of the previous bars.

Sizing, the 10% and 3x margin caps and order handling are the engine's (SignalStrategy); a plugin
only says which side it wants to be on after each bar.
"""

from __future__ import annotations

from collections import deque

from nautilus_trader.model.data import Bar
from nautilus_trader.model.identifiers import InstrumentId

from services.engine.domain.strategies.base import SignalConfig, SignalStrategy


class DonchianBreakout(SignalStrategy):
    def __init__(self, config: SignalConfig) -> None:
        super().__init__(config)
        self.highs: dict[InstrumentId, deque[float]] = {}
        self.lows: dict[InstrumentId, deque[float]] = {}

    def window(self) -> int:
        return int(self.params["entry_lookback"])

    def target(self, instrument_id: InstrumentId, bar: Bar) -> int | None:
        entry, exit_ = int(self.params["entry_lookback"]), int(self.params["exit_lookback"])
        highs = self.highs.setdefault(instrument_id, deque(maxlen=entry))
        lows = self.lows.setdefault(instrument_id, deque(maxlen=entry))
        close, side = float(bar.close), self.side[instrument_id]
        ready = len(highs) == entry  # the channel is of the bars before this one
        if ready:
            recent_highs, recent_lows = list(highs)[-exit_:], list(lows)[-exit_:]
            if side == 0 and close > max(highs):
                side = 1
            elif side == 0 and close < min(lows) and self.allow_short:
                side = -1
            elif (side > 0 and close < min(recent_lows)) or (side < 0 and close > max(recent_highs)):
                side = 0
        highs.append(float(bar.high))
        lows.append(float(bar.low))
        if not ready:
            return None
        self.side[instrument_id] = side
        return side
