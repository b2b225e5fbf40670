"""DONCHIAN_BREAKOUT's rule: a target position from the channel of the previous bars.

Written against the public SDK only (bts_sdk): sizing, the 10% and 3x margin caps, the book and the
orders are the platform's; a plugin only says which side it wants to be on after each bar.
"""

from __future__ import annotations

from collections import deque

from bts_donchian.spec import DonchianParameters
from bts_sdk import Bar, Strategy


class DonchianBreakout(Strategy[DonchianParameters]):
    """One instance per instrument: it sees that instrument's bars, in time order."""

    def __init__(self, parameters: DonchianParameters) -> None:
        super().__init__(parameters)
        self.highs: deque[float] = deque(maxlen=parameters.entry_lookback)
        self.lows: deque[float] = deque(maxlen=parameters.entry_lookback)
        self.side = 0

    def on_bar(self, bar: Bar) -> int | None:
        entry, exit_ = self.parameters.entry_lookback, self.parameters.exit_lookback
        highs, lows, close, side = self.highs, self.lows, bar.close, self.side
        ready = len(highs) == entry  # the channel is of the bars before this one
        if ready:
            recent_highs, recent_lows = list(highs)[-exit_:], list(lows)[-exit_:]
            if side == 0 and close > max(highs):
                side = 1
            elif side == 0 and close < min(lows) and self.parameters.allow_short:
                side = -1
            elif (side > 0 and close < min(recent_lows)) or (side < 0 and close > max(recent_highs)):
                side = 0
        highs.append(bar.high)
        lows.append(bar.low)
        if not ready:
            return None
        self.side = side
        return side
