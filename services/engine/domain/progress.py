"""How far a backtest is, and when it should finish: the run's phases mapped onto 0..100 %.

Loading the bars takes the first LOADED %; Nautilus' run (bars seen / bars fed) takes up to RAN %;
building trades, snapshots and metrics and storing them take the rest. The estimate of the time
left comes from the rate of bars observed so far in the run, plus, for the work after the run, the
share of the whole run that the percentages give that work.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

LOADED = 10.0
RAN = 90.0


class BarCounter(Protocol):
    bars_seen: int
    stop_requested: bool  # read by the strategy at each bar: set, the run stops there (RunCancelled)


class RunTracker:
    """Shared between the worker thread that runs Nautilus and the event loop that reports progress.

    The strategy counts the bars it sees (one int increment per bar, nothing else); the reader only
    reads that int, which is safe under the GIL. `attach` happens once, before the run starts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counter: BarCounter | None = None
        self.bars_total = 0
        self.cancelled = False

    def attach(self, counter: BarCounter, bars_total: int) -> None:
        with self._lock:
            self._counter, self.bars_total = counter, bars_total
            counter.stop_requested = self.cancelled

    def cancel(self) -> None:
        """Stop the run at its next bar (from the event loop; a bool written under the GIL)."""
        with self._lock:
            self.cancelled = True
            if self._counter is not None:
                self._counter.stop_requested = True

    @property
    def bars_done(self) -> int:
        counter = self._counter
        return counter.bars_seen if counter is not None else 0


@dataclass(frozen=True)
class Estimate:
    progress_pct: float
    seconds_left: float | None  # None until there is a rate to extrapolate from


def run_estimate(bars_done: int, bars_total: int, bars_per_second: float | None) -> Estimate:
    """Progress while Nautilus runs, and the time left at the observed rate (bars per second)."""
    if bars_total <= 0:
        return Estimate(LOADED, None)
    fraction = min(1.0, max(0.0, bars_done / bars_total))
    pct = LOADED + (RAN - LOADED) * fraction
    if not bars_per_second or bars_per_second <= 0:
        return Estimate(pct, None)
    run_left = max(0, bars_total - bars_done) / bars_per_second
    after_run = bars_total / bars_per_second * (100.0 - RAN) / (RAN - LOADED)
    return Estimate(pct, run_left + after_run)


class RateMeter:
    """Bars per second since the first sample that saw bars (the run's set-up is not counted)."""

    def __init__(self) -> None:
        self._first: tuple[float, int] | None = None

    def __call__(self, now: float, bars_done: int) -> float | None:
        if bars_done <= 0:
            return None
        if self._first is None:
            self._first = (now, bars_done)
            return None
        t0, done0 = self._first
        return (bars_done - done0) / (now - t0) if now > t0 and bars_done > done0 else None


class MonotonicProgress:
    """Never reports less than it reported before (phases can overlap in the estimate)."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, pct: float) -> float:
        self.last = max(self.last, min(100.0, pct))
        return self.last
