"""The data-quality report of one import: what the loaded bars look like against the exchange calendar (pure).

GAP: sessions of the calendar between the first and last bar with no bar at all (as ranges).
SPLIT_SUSPECT: a session's first open or last close that moved from the previous session's close by a
split ratio (shared.quality). STALE: bars repeating the same OHLC, or with zero volume, over
STALE_MIN_SESSIONS sessions or more. Everything is vectorised over the bars (numpy); only the findings,
a handful, are formatted one by one, and at most MAX_IMPORT_WARNINGS_PER_KIND of each kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.ingest.domain.bar_checks import CheckedChunk
from services.ingest.domain.sessions import SessionTable
from shared.quality import STALE_MIN_SESSIONS, runs, split_matches
from shared.text_bounds import MAX_IMPORT_WARNINGS_PER_KIND


class WarningKind(StrEnum):
    GAP = "GAP"
    SPLIT_SUSPECT = "SPLIT_SUSPECT"
    STALE = "STALE"


@dataclass(frozen=True)
class Finding:
    kind: WarningKind
    start: date
    end: date
    detail: str


@dataclass
class QualityReport:
    findings: list[Finding] = field(default_factory=list)  # at most MAX_IMPORT_WARNINGS_PER_KIND of each kind
    counts: dict[str, int] = field(default_factory=dict)  # kind -> findings in all

    def add(self, kind: WarningKind, found: list[Finding]) -> None:
        if found:
            self.counts[kind.value] = len(found)
            self.findings.extend(found[:MAX_IMPORT_WARNINGS_PER_KIND])


@dataclass(frozen=True)
class LoadedBars:
    """The bars an import loaded, sorted by time, one per timestamp."""

    ns: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.int64]

    FIELDS: ClassVar[tuple[str, ...]] = ("ns", "open", "high", "low", "close", "volume")

    @classmethod
    def take(cls, keep: npt.NDArray[np.intp], ns: npt.NDArray[np.int64], checked: CheckedChunk) -> LoadedBars:
        """The rows at `keep` of a checked chunk (`ns`: their times, already taken)."""
        prices = (checked.open[keep], checked.high[keep], checked.low[keep], checked.close[keep])
        return cls(ns, *prices, checked.volume[keep])


def quality_report(bars: LoadedBars, sessions: SessionTable, daily: bool) -> QualityReport:
    """Every check on the loaded bars; `daily`: bars are session dates, else intraday times."""
    report = QualityReport()
    if len(bars.ns) == 0:
        return report
    position = sessions.session_index(bars.ns, daily)  # calendar position of each bar's session
    day = [d.date() for d in pd.to_datetime(sessions.dates)]  # calendar position -> session date
    report.add(WarningKind.GAP, _gaps(position, day, sessions.name))
    report.add(WarningKind.SPLIT_SUSPECT, _splits(bars, position, day))
    report.add(WarningKind.STALE, _stale(bars, position, day))
    return report


def _finding(kind: WarningKind, day: list[date], first: int, last: int, detail: str) -> Finding:
    """A finding over the calendar's sessions at positions first..last."""
    return Finding(kind, day[first], day[last], detail)


def _gaps(position: npt.NDArray[np.intp], day: list[date], calendar: str) -> list[Finding]:
    present = np.zeros(int(position[-1] - position[0]) + 1, dtype=bool)
    present[position - position[0]] = True
    first, last = runs(~present)
    base = int(position[0])
    spans = zip(first.tolist(), last.tolist(), strict=True)
    return [
        _finding(WarningKind.GAP, day, base + a, base + b, f"{b - a + 1} session(s) of {calendar} without a bar")
        for a, b in spans
    ]


def _splits(bars: LoadedBars, position: npt.NDArray[np.intp], day: list[date]) -> list[Finding]:
    starts = np.flatnonzero(np.concatenate([[True], position[1:] != position[:-1]]))  # each session's first bar
    ends = np.concatenate([starts[1:] - 1, [len(position) - 1]])
    opened, closed, before = bars.open[starts[1:]], bars.close[ends[1:]], bars.close[ends[:-1]]
    by_open, by_close = split_matches(before, opened), split_matches(before, closed)
    found = []
    for i, (at_open, at_close) in enumerate(zip(by_open, by_close, strict=True)):
        match = at_open or at_close
        if match is None:
            continue
        move = f"{match.label}: close {before[i]:g} -> open {opened[i]:g}, close {closed[i]:g}"
        at = int(position[starts[i + 1]])
        found.append(_finding(WarningKind.SPLIT_SUSPECT, day, at, at, f"{move}; no corporate action on record"))
    return found


def _stale(bars: LoadedBars, position: npt.NDArray[np.intp], day: list[date]) -> list[Finding]:
    repeats = np.ones(len(position), dtype=bool)  # the bar has the OHLC of the bar before it
    repeats[0] = False
    for values in (bars.open, bars.high, bars.low, bars.close):
        repeats[1:] &= values[1:] == values[:-1]
    first, last = runs(repeats)
    stretches = [(a - 1, b, "identical OHLC") for a, b in zip(first.tolist(), last.tolist(), strict=True)]
    first, last = runs(bars.volume == 0)
    stretches += [(a, b, "zero volume") for a, b in zip(first.tolist(), last.tolist(), strict=True)]
    found = []
    for a, b, what in sorted(stretches):
        spanned = int(position[b] - position[a]) + 1
        if spanned < STALE_MIN_SESSIONS:
            continue
        price = f" (close {bars.close[a]:g})" if what == "identical OHLC" else ""
        detail = f"{what}{price} in {b - a + 1} bar(s) over {spanned} sessions"
        found.append(_finding(WarningKind.STALE, day, int(position[a]), int(position[b]), detail))
    return found
