"""MOMENTUM: long when the `lookback` return exceeds `threshold`; out when it turns negative (mirror for shorts)."""

from __future__ import annotations

from collections import deque

from nautilus_trader.model.data import Bar
from nautilus_trader.model.identifiers import InstrumentId

from services.engine.domain.strategies.base import SignalStrategy


class Momentum(SignalStrategy):
    def setup(self, instrument_id: InstrumentId) -> None:
        if not hasattr(self, "_closes"):
            self._closes: dict[InstrumentId, deque[float]] = {}
            self._side: dict[InstrumentId, int] = {}
        self._closes[instrument_id] = deque(maxlen=int(self.params["lookback"]) + 1)
        self._side[instrument_id] = 0

    def target(self, instrument_id: InstrumentId, bar: Bar) -> int | None:
        closes = self._closes[instrument_id]
        closes.append(float(bar.close))
        if len(closes) < closes.maxlen:  # type: ignore[operator]
            return None
        change = closes[-1] / closes[0] - 1.0
        threshold = float(self.params["threshold"])
        side = self._side[instrument_id]
        if change > threshold:
            side = 1
        elif change < -threshold and self.allow_short:
            side = -1
        elif (side > 0 and change <= 0) or (side < 0 and change >= 0):
            side = 0
        self._side[instrument_id] = side
        return side
