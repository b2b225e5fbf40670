"""SMA_CROSSOVER: long when the fast SMA crosses above the slow one; out (or short) when it crosses below."""

from __future__ import annotations

from nautilus_trader.model.data import Bar
from nautilus_trader.model.identifiers import InstrumentId

from services.engine.domain.strategies.base import SignalConfig, SignalStrategy


class SmaCrossover(SignalStrategy):
    def __init__(self, config: SignalConfig) -> None:
        super().__init__(config)
        self.relation: dict[InstrumentId, int] = {}  # fast vs slow at the last bar: +1 above, -1 below

    def window(self) -> int:
        return int(self.params["slow_period"])

    def target(self, instrument_id: InstrumentId, bar: Bar) -> int | None:
        closes = self.full_window(instrument_id, bar)
        if closes is None:
            return None
        fast_n = int(self.params["fast_period"])
        fast = sum(list(closes)[-fast_n:]) / fast_n
        slow = sum(closes) / len(closes)
        relation = (fast > slow) - (fast < slow)
        previous = self.relation.get(instrument_id)
        self.relation[instrument_id] = relation
        if previous is None or relation == previous or relation == 0:
            return None  # act on crossings only, not on the state found at the start
        return relation
