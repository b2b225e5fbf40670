"""MEAN_REVERSION: z-score of the close against its `lookback` mean; enter beyond `entry_z`, exit inside `exit_z`."""

from __future__ import annotations

import statistics

from nautilus_trader.model.data import Bar
from nautilus_trader.model.identifiers import InstrumentId

from services.engine.domain.strategies.base import SignalStrategy


class MeanReversion(SignalStrategy):
    def window(self) -> int:
        return int(self.params["lookback"])

    def target(self, instrument_id: InstrumentId, bar: Bar) -> int | None:
        closes = self.full_window(instrument_id, bar)
        if closes is None:
            return None
        mean, stdev = statistics.fmean(closes), statistics.pstdev(closes)
        if stdev == 0:
            return None
        z = (closes[-1] - mean) / stdev
        entry, exit_ = float(self.params["entry_z"]), float(self.params["exit_z"])
        side = self.side[instrument_id]
        if side == 0:
            if z <= -entry:
                side = 1
            elif z >= entry and self.allow_short:
                side = -1
        elif abs(z) <= exit_ or (side > 0 and z >= entry) or (side < 0 and z <= -entry):
            side = 0
        self.side[instrument_id] = side
        return side
