"""MOMENTUM: long when the `lookback` return exceeds `threshold`; out when it turns negative (mirror for shorts)."""

from __future__ import annotations

from collections import deque

from bts_sdk import Bar, MomentumParameters, Strategy


class Momentum(Strategy[MomentumParameters]):
    def __init__(self, parameters: MomentumParameters) -> None:
        super().__init__(parameters)
        self.closes: deque[float] = deque(maxlen=parameters.lookback + 1)  # the return over `lookback` bars
        self.side = 0

    def on_bar(self, bar: Bar) -> int | None:
        closes = self.closes
        closes.append(bar.close)
        if len(closes) < self.parameters.lookback + 1:
            return None
        change = closes[-1] / closes[0] - 1.0
        threshold = self.parameters.threshold
        side = self.side
        if change > threshold:
            side = 1
        elif change < -threshold and self.parameters.allow_short:
            side = -1
        elif (side > 0 and change <= 0) or (side < 0 and change >= 0):
            side = 0
        self.side = side
        return side
