"""Data-quality definitions shared by the engine's run-time checks and (later) ingest's import report (pure).

A split shows in raw prices as a session-to-session move by the split ratio: a 2:1 split halves the
price, a 1:2 reverse split doubles it. A move within SPLIT_TOLERANCE of one of SPLIT_RATIOS is suspect
until a corporate action on record explains it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Final

# New shares per old share of the common splits (3:2 is 1.5); reverse splits are their inverses.
SPLIT_RATIOS: Final[tuple[Fraction, ...]] = tuple(
    Fraction(n, d) for n, d in ((2, 1), (3, 1), (3, 2), (4, 1), (5, 1), (10, 1), (20, 1))
)
# |observed / expected - 1| at most this (3%): a split day's own trading rarely moves the price further.
SPLIT_TOLERANCE: Final = 0.03


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


def split_match(before: float, after: float, tolerance: float = SPLIT_TOLERANCE) -> SplitMatch | None:
    """The split ratio that a move from price `before` to `after` matches within `tolerance`, if any."""
    if before <= 0 or after <= 0:
        return None
    factor = before / after  # 2.0 when the price halved
    for ratio in SPLIT_RATIOS:
        if abs(factor / float(ratio) - 1) <= tolerance:
            return SplitMatch(ratio, reverse=False)
        if abs(factor * float(ratio) - 1) <= tolerance:
            return SplitMatch(ratio, reverse=True)
    return None


@dataclass(frozen=True)
class SessionGaps:
    """Sessions of a calendar without a bar: how many, and as runs of consecutive sessions (first, last)."""

    missing: int
    ranges: list[tuple[date, date]]


def session_gaps(sessions: Sequence[date], present: Collection[date]) -> SessionGaps:
    """The `sessions` (in order) not in `present`, as runs of consecutive sessions: a holiday or a weekend
    between two missing sessions does not split a run, a session with a bar does."""
    ranges: list[tuple[date, date]] = []
    missing, previous_missing = 0, False
    for session in sessions:
        if session in present:
            previous_missing = False
            continue
        missing += 1
        if previous_missing:
            ranges[-1] = (ranges[-1][0], session)
        else:
            ranges.append((session, session))
        previous_missing = True
    return SessionGaps(missing, ranges)
