"""MEAN_REVERSION: z-score of the close against its `lookback` mean; enter beyond `entry_z`, exit inside `exit_z`."""

from __future__ import annotations

import statistics
from collections import deque

from bts_sdk import Bar, MeanReversionParameters, Strategy


class MeanReversion(Strategy[MeanReversionParameters]):
    def __init__(self, parameters: MeanReversionParameters) -> None:
        super().__init__(parameters)
        self.closes: deque[float] = deque(maxlen=parameters.lookback)
        self.side = 0

    def on_bar(self, bar: Bar) -> int | None:
        closes = self.closes
        closes.append(bar.close)
        if len(closes) < self.parameters.lookback:
            return None
        mean, stdev = statistics.fmean(closes), statistics.pstdev(closes)
        if stdev == 0:
            return None
        z = (closes[-1] - mean) / stdev
        entry, exit_ = self.parameters.entry_z, self.parameters.exit_z
        side = self.side
        if side == 0:
            if z <= -entry:
                side = 1
            elif z >= entry and self.parameters.allow_short:
                side = -1
        elif abs(z) <= exit_ or (side > 0 and z >= entry) or (side < 0 and z <= -entry):
            side = 0
        self.side = side
        return side
