"""Data-quality definitions shared by the engine's run-time checks and ingest's import report (pure).

A split shows in raw prices as a session-to-session move by the split ratio: a 2:1 split halves the
price, a 1:2 reverse split doubles it. A move within SPLIT_TOLERANCE of one of SPLIT_RATIOS is suspect
until a corporate action on record explains it. Data is stale when its bars repeat the same OHLC, or
trade no volume, for STALE_MIN_SESSIONS sessions or more.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Final

import numpy as np
import numpy.typing as npt

# New shares per old share of the common splits (3:2 is 1.5); reverse splits are their inverses.
SPLIT_RATIOS: Final[tuple[Fraction, ...]] = tuple(
    Fraction(n, d) for n, d in ((2, 1), (3, 1), (3, 2), (4, 1), (5, 1), (10, 1), (20, 1))
)
# |observed / expected - 1| at most this (3%): a split day's own trading rarely moves the price further.
SPLIT_TOLERANCE: Final = 0.03
# A feed that repeats itself (or trades nothing) this many sessions in a row has stopped, or is filled in.
STALE_MIN_SESSIONS: Final = 5


@dataclass(frozen=True)
class SplitMatch:
    """A price move that looks like a split of `ratio` (new:old shares); reverse when the price rose."""

    ratio: Fraction
    reverse: bool

    @property
    def label(self) -> str:
        """'2:1', or '1:10' for a reverse split."""
        n, d = self.ratio.numerator, self.ratio.denominator
        return f"{d}:{n}" if self.reverse else f"{n}:{d}"


def runs(flags: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(first, last) positions of each run of consecutive True values in `flags` (e.g. sessions without a bar,
    in calendar order: a holiday between two of them is not in the calendar, so it does not split a run)."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.diff(padded)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def split_matches(
    before: npt.NDArray[np.float64], after: npt.NDArray[np.float64], tolerance: float = SPLIT_TOLERANCE
) -> list[SplitMatch | None]:
    """For each move from `before[i]` to `after[i]`, the split ratio it matches within `tolerance` (vectorised:
    the ratios are tried on every move at once)."""
    found: list[SplitMatch | None] = [None] * len(before)
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = (before > 0) & (after > 0)
        factor = np.where(positive, before / np.where(positive, after, 1.0), np.nan)  # 2.0 when the price halved
        undecided = positive.copy()
        for ratio in SPLIT_RATIOS:
            for reverse, observed in ((False, factor / float(ratio)), (True, factor * float(ratio))):
                hit = undecided & (np.abs(observed - 1) <= tolerance)
                for i in np.flatnonzero(hit):
                    found[int(i)] = SplitMatch(ratio, reverse=reverse)
                undecided &= ~hit
    return found


def split_match(before: float, after: float, tolerance: float = SPLIT_TOLERANCE) -> SplitMatch | None:
    """The split ratio that a move from price `before` to `after` matches within `tolerance`, if any."""
    return split_matches(np.array([before], dtype=np.float64), np.array([after], dtype=np.float64), tolerance)[0]


@dataclass(frozen=True)
class SessionGaps:
    """Sessions of a calendar without a bar: how many, and as runs of consecutive sessions (first, last)."""

    missing: int
    ranges: list[tuple[date, date]]


def session_gaps(sessions: Sequence[date], present: Collection[date]) -> SessionGaps:
    """The `sessions` (in order) not in `present`, as runs of consecutive sessions: a holiday or a weekend
    between two missing sessions does not split a run, a session with a bar does."""
    flags = np.fromiter((s not in present for s in sessions), dtype=np.bool_, count=len(sessions))
    first, last = runs(flags)
    ranges = [(sessions[a], sessions[b]) for a, b in zip(first.tolist(), last.tolist(), strict=True)]
    return SessionGaps(int(flags.sum()), ranges)
