"""SMA_CROSSOVER: long when the fast SMA crosses above the slow one; out (or short) when it crosses below."""

from __future__ import annotations

from collections import deque

from nautilus_trader.model.data import Bar
from nautilus_trader.model.identifiers import InstrumentId

from services.engine.domain.strategies.base import SignalStrategy


class SmaCrossover(SignalStrategy):
    def setup(self, instrument_id: InstrumentId) -> None:
        if not hasattr(self, "_closes"):
            self._closes: dict[InstrumentId, deque[float]] = {}
            self._relation: dict[InstrumentId, int] = {}
        self._closes[instrument_id] = deque(maxlen=int(self.params["slow_period"]))

    def target(self, instrument_id: InstrumentId, bar: Bar) -> int | None:
        closes = self._closes[instrument_id]
        closes.append(float(bar.close))
        slow_n, fast_n = int(self.params["slow_period"]), int(self.params["fast_period"])
        if len(closes) < slow_n:
            return None
        window = list(closes)
        fast = sum(window[-fast_n:]) / fast_n
        slow = sum(window) / slow_n
        relation = (fast > slow) - (fast < slow)
        previous = self._relation.get(instrument_id)
        self._relation[instrument_id] = relation
        if previous is None or relation == previous or relation == 0:
            return None  # act on crossings only, not on the state found at the start
        return relation
