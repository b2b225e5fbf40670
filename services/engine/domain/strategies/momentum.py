"""MOMENTUM: long when the `lookback` return exceeds `threshold`; out when it turns negative (mirror for shorts)."""

from __future__ import annotations

from nautilus_trader.model.data import Bar
from nautilus_trader.model.identifiers import InstrumentId

from services.engine.domain.strategies.base import SignalStrategy


class Momentum(SignalStrategy):
    def window(self) -> int:
        return int(self.params["lookback"]) + 1

    def target(self, instrument_id: InstrumentId, bar: Bar) -> int | None:
        closes = self.full_window(instrument_id, bar)
        if closes is None:
            return None
        change = closes[-1] / closes[0] - 1.0
        threshold = float(self.params["threshold"])
        side = self.side[instrument_id]
        if change > threshold:
            side = 1
        elif change < -threshold and self.allow_short:
            side = -1
        elif (side > 0 and change <= 0) or (side < 0 and change >= 0):
            side = 0
        self.side[instrument_id] = side
        return side
