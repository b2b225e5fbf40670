"""SMA_CROSSOVER: long when the fast SMA crosses above the slow one; out (or short) when it crosses below.

Its `screen` is the same rule over arrays, for every parameter combination at once: the moving averages
are computed once per distinct period (cumulative sums), the positions as a (combinations x bars) array.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from bts_sdk import Bar, SmaCrossoverParameters, Strategy


class SmaCrossover(Strategy[SmaCrossoverParameters]):
    def __init__(self, parameters: SmaCrossoverParameters) -> None:
        super().__init__(parameters)
        self.closes: deque[float] = deque(maxlen=parameters.slow_period)
        self.relation: int | None = None  # fast vs slow at the last bar: +1 above, -1 below

    def on_bar(self, bar: Bar) -> int | None:
        closes = self.closes
        closes.append(bar.close)
        if len(closes) < self.parameters.slow_period:
            return None
        fast_n = self.parameters.fast_period
        fast = sum(list(closes)[-fast_n:]) / fast_n
        slow = sum(closes) / len(closes)
        relation = (fast > slow) - (fast < slow)
        previous, self.relation = self.relation, relation
        if previous is None or relation == previous or relation == 0:
            return None  # act on crossings only, not on the state found at the start
        return relation

    @classmethod
    def screen(cls, closes: np.ndarray, parameters: Sequence[SmaCrossoverParameters]) -> np.ndarray:
        fast_n = np.array([p.fast_period for p in parameters])
        slow_n = np.array([p.slow_period for p in parameters])
        shorts = np.array([p.allow_short for p in parameters])
        smas = sma_table(closes, set(fast_n) | set(slow_n))
        return crossing_positions(np.stack([smas[n] for n in fast_n]), np.stack([smas[n] for n in slow_n]), shorts)


def sma_table(values: np.ndarray, periods: set[int]) -> dict[int, np.ndarray]:
    """The simple moving average of `values` for each period (NaN until its window is full)."""
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    table = {}
    for n in periods:
        sma = np.full(len(values), np.nan)
        if n <= len(values):
            sma[n - 1 :] = (cumulative[n:] - cumulative[:-n]) / n
        table[n] = sma
    return table


def crossing_positions(fast: np.ndarray, slow: np.ndarray, allow_short: np.ndarray) -> np.ndarray:
    """(combos x bars) target positions: +1, 0, -1 after crossings, as `SmaCrossover.on_bar` acts."""
    relation = np.sign(fast - slow)  # NaN until the slow window is full
    previous = np.empty_like(relation)
    previous[:, 0] = np.nan
    previous[:, 1:] = relation[:, :-1]
    trigger = (relation != previous) & (relation != 0) & ~np.isnan(previous) & ~np.isnan(relation)
    target = np.where(relation < 0, np.where(allow_short[:, None], -1.0, 0.0), 1.0)
    columns = np.arange(relation.shape[1])
    last = np.maximum.accumulate(np.where(trigger, columns, -1), axis=1)
    held = np.take_along_axis(target, np.maximum(last, 0), axis=1)
    return np.where(last >= 0, held, 0.0)
