"""The strategy base class: a plugin says, bar by bar, which side it wants to be on; the platform does the rest.

A `Strategy` instance follows one instrument: the platform makes one per instrument of a run (with the
run's typed parameters) and calls `on_bar` with each of that instrument's bars, in time order. It returns
its target position (+1 long, 0 flat, -1 short) or None to keep what it has. The platform sizes the
entries (position_size_pct of equity, at most 10% of the portfolio, total margin at most 3x the account
value), keeps the book, runs margin calls and submits the orders, which fill at the close of the bar that
produced the signal (plus slippage). A -1 is taken as 0 unless the parameters allow shorts.

A strategy may also provide a vectorised `screen`, used by parameter sweeps to rank every combination
before any of them runs on the engine (see docs/strategies.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np

from shared.strategy_types import StrategyParameters

P = TypeVar("P", bound=StrategyParameters)


class Bar(NamedTuple):
    """One bar of the instrument, stamped at its close (ns since the epoch, UTC); prices as the engine holds them.

    A named tuple: one is made for every bar of a run, and a tuple is the cheapest immutable record."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class Strategy(Generic[P]):
    """Subclass it with your parameter model, `class MyStrategy(Strategy[MyParameters])`, and implement `on_bar`."""

    def __init__(self, parameters: P) -> None:
        self.parameters = parameters

    def on_bar(self, bar: Bar) -> int | None:
        """The target position after this bar: +1 long, 0 flat, -1 short; None keeps the current one."""
        raise NotImplementedError

    @classmethod
    def screen(cls, closes: np.ndarray, parameters: Sequence[P]) -> np.ndarray:
        """Optional: the target positions of every parameter combination at once, for a sweep's pre-screen.

        `closes` are one instrument's closes (1-d, in time order, no gaps); the result is a
        (len(parameters) x len(closes)) array of +1 / 0 / -1, the position held after each bar, which must
        equal what `on_bar` would return bar by bar (None: the previous position, 0 before the first).
        """
        raise NotImplementedError(f"{cls.__name__} has no vectorised screen")


def has_screen(strategy_class: type[Strategy[Any]]) -> bool:
    """Whether the class overrides `Strategy.screen`."""
    return strategy_class.screen.__func__ is not Strategy.screen.__func__  # type: ignore[attr-defined]
