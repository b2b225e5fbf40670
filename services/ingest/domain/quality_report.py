"""The data-quality report of one import: what the loaded bars look like against the exchange calendar (pure).

GAP: sessions of the calendar between the first and last bar with no bar at all (as ranges).
SPLIT_SUSPECT: a session's first open or last close that moved from the previous session's close by a
split ratio (shared.domain.quality). STALE: bars repeating the same OHLC, or with zero volume, over
STALE_MIN_SESSIONS sessions or more.

The bars stream through a QualityScan batch by batch, in time order, and it keeps only what the checks
need: one flag, one open and one close per calendar session, and the stretch of repeated or zero-volume
bars still open at the end of the last batch. So memory does not grow with the file, and everything is
vectorised over a batch (numpy); only the findings, a handful, are formatted one by one, and at most
MAX_IMPORT_WARNINGS_PER_KIND of each kind are listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.ingest.domain.sessions import SessionTable
from shared.contracts.text_bounds import MAX_IMPORT_WARNINGS_PER_KIND
from shared.domain.quality import STALE_MIN_SESSIONS, runs, split_matches


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
    """A batch of loaded bars, in time order, one per timestamp, after those of the batch before."""

    ns: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.int64]


@dataclass
class _Stretch:
    """Consecutive bars that repeat one OHLC, or trade no volume: calendar positions of the first and last."""

    what: str
    first: int
    last: int
    bars: int
    close: float


class QualityScan:
    """Feed it the loaded bars in time order (`add`), then take the `report`."""

    def __init__(self, sessions: SessionTable, daily: bool, split_dates: frozenset[date] = frozenset()) -> None:
        self.sessions, self.daily = sessions, daily
        self.split_dates = split_dates  # ex-dates of the splits on record: their moves are explained
        self.present = np.zeros(len(sessions.dates), dtype=bool)
        self.first_open = np.full(len(sessions.dates), np.nan)
        self.last_close = np.full(len(sessions.dates), np.nan)
        self.stretches: list[_Stretch] = []  # closed, STALE_MIN_SESSIONS sessions or longer
        self.open_stretch: dict[str, _Stretch | None] = {"identical OHLC": None, "zero volume": None}
        self.last_bar: tuple[float, float, float, float] | None = None
        self.last_position = -1

    def add(self, bars: LoadedBars) -> None:
        """One batch; its bars come after every bar of the batches before."""
        if len(bars.ns) == 0:
            return
        position = self.sessions.session_index(bars.ns, self.daily)
        self.present[position] = True
        first = np.flatnonzero(np.concatenate([[True], position[1:] != position[:-1]]))  # bars are in time order
        last = np.concatenate([first[1:] - 1, [len(position) - 1]])
        sessions = position[first]
        unset = np.isnan(self.first_open[sessions])
        self.first_open[sessions[unset]] = bars.open[first[unset]]
        self.last_close[sessions] = bars.close[last]
        repeats = np.ones(len(position), dtype=bool)  # the bar has the OHLC of the bar before it
        previous = self.last_bar or (np.nan,) * 4
        for values, before in zip((bars.open, bars.high, bars.low, bars.close), previous, strict=True):
            repeats &= values == np.concatenate([[before], values[:-1]])
        self._stretches("identical OHLC", repeats, position, bars.close, counts_bar_before=True)
        self._stretches("zero volume", bars.volume == 0, position, bars.close, counts_bar_before=False)
        self.last_bar = (float(bars.open[-1]), float(bars.high[-1]), float(bars.low[-1]), float(bars.close[-1]))
        self.last_position = int(position[-1])

    def _stretches(
        self,
        what: str,
        flags: npt.NDArray[np.bool_],
        position: npt.NDArray[np.intp],
        close: npt.NDArray[np.float64],
        counts_bar_before: bool,
    ) -> None:
        """Extend or close the stretch left open by the batch before; record this batch's stretches."""
        carried = self.open_stretch[what]
        if carried is not None and not flags[0]:
            self._close(what)
        for a, b in zip(*(edge.tolist() for edge in runs(flags)), strict=True):
            current = self.open_stretch[what]
            if a == 0 and current is not None:
                current.last, current.bars = int(position[b]), current.bars + b - a + 1
            else:
                start = a - 1 if counts_bar_before else a  # a repeat's stretch starts at the bar it repeats
                first = int(position[start]) if start >= 0 else self.last_position
                price = float(close[start]) if start >= 0 else (self.last_bar or (np.nan,) * 4)[3]
                bars = b - a + 1 + (1 if counts_bar_before else 0)
                self.open_stretch[what] = _Stretch(what, first, int(position[b]), bars, price)
            if b < len(flags) - 1:
                self._close(what)

    def _close(self, what: str) -> None:
        stretch = self.open_stretch[what]
        self.open_stretch[what] = None
        if stretch is not None and stretch.last - stretch.first + 1 >= STALE_MIN_SESSIONS:
            self.stretches.append(stretch)

    def report(self) -> QualityReport:
        """Every finding over the bars added."""
        for what in list(self.open_stretch):
            self._close(what)
        report = QualityReport()
        present = np.flatnonzero(self.present)
        if len(present) == 0:
            return report
        day = [d.date() for d in pd.to_datetime(self.sessions.dates)]  # calendar position -> session date
        report.add(WarningKind.GAP, self._gaps(present, day))
        report.add(WarningKind.SPLIT_SUSPECT, self._splits(present, day))
        report.add(WarningKind.STALE, self._stale(day))
        return report

    def _gaps(self, present: npt.NDArray[np.intp], day: list[date]) -> list[Finding]:
        base = int(present[0])
        first, last = runs(~self.present[base : int(present[-1]) + 1])
        name = self.sessions.name
        return [
            Finding(WarningKind.GAP, day[base + a], day[base + b], f"{b - a + 1} session(s) of {name} without a bar")
            for a, b in zip(first.tolist(), last.tolist(), strict=True)
        ]

    def _splits(self, present: npt.NDArray[np.intp], day: list[date]) -> list[Finding]:
        before = self.last_close[present[:-1]]
        opened, closed = self.first_open[present[1:]], self.last_close[present[1:]]
        found = []
        matches = zip(split_matches(before, opened), split_matches(before, closed), strict=True)
        for i, (at_open, at_close) in enumerate(matches):
            match = at_open or at_close
            if match is None:
                continue
            move = f"{match.label}: close {before[i]:g} -> open {opened[i]:g}, close {closed[i]:g}"
            when = day[int(present[i + 1])]
            if when in self.split_dates:
                continue
            found.append(Finding(WarningKind.SPLIT_SUSPECT, when, when, f"{move}; no corporate action on record"))
        return found

    def _stale(self, day: list[date]) -> list[Finding]:
        found = []
        for s in sorted(self.stretches, key=lambda s: (s.first, s.what)):
            price = f" (close {s.close:g})" if s.what == "identical OHLC" else ""
            detail = f"{s.what}{price} in {s.bars} bar(s) over {s.last - s.first + 1} sessions"
            found.append(Finding(WarningKind.STALE, day[s.first], day[s.last], detail))
        return found


def quality_report(bars: LoadedBars, sessions: SessionTable, daily: bool) -> QualityReport:
    """Every check on bars held at once (sorted, one per timestamp)."""
    scan = QualityScan(sessions, daily)
    scan.add(bars)
    return scan.report()
