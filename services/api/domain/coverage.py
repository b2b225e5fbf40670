"""What market data there is (pure): a series' bars against its exchange calendar.

Expected sessions are the calendar's sessions from the first bar's day to the last bar's day; a gap is
such a session with no bar (by UTC date, as the engine counts trading days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Protocol

from shared.domain.calendars import UnknownExchangeError, calendar_for

MAX_GAP_RANGES: Final = 5  # listed per series; `gap_ranges` counts them all


class SeriesDays(Protocol):
    """A series summed up per day (shared.platform.db.reads.SeriesDays is one)."""

    @property
    def instrument_id(self) -> str: ...
    @property
    def timeframe(self) -> str: ...
    @property
    def exchange(self) -> str | None: ...
    @property
    def first_bar(self) -> datetime: ...
    @property
    def last_bar(self) -> datetime: ...
    @property
    def bars(self) -> int: ...
    @property
    def days(self) -> list[date]: ...
    @property
    def last_import(self) -> datetime | None: ...
    @property
    def adjustment(self) -> str: ...


@dataclass(frozen=True)
class SeriesCoverage:
    instrument_id: str
    timeframe: str
    first_bar: datetime
    last_bar: datetime
    bars: int
    sessions_with_bars: int
    expected_sessions: int | None  # None: no calendar for the exchange
    gap_sessions: int | None
    gap_ranges: int | None
    gaps: list[tuple[date, date]]  # the first MAX_GAP_RANGES runs of missing sessions
    adjustment: str
    last_import: datetime | None


def expected_sessions(exchange: str | None, first: date, last: date) -> list[date] | None:
    """The exchange's sessions from `first` to `last` (both included); None when it has no calendar."""
    import pandas as pd  # here, with the calendar: not on the gateway's way to ready

    if exchange is None:
        return None
    try:
        calendar = calendar_for(exchange)
    except UnknownExchangeError:
        return None
    sessions = pd.DatetimeIndex(calendar.sessions)
    inside = sessions[(sessions >= pd.Timestamp(first)) & (sessions <= pd.Timestamp(last))]
    return list(inside.date)


def series_coverage(series: SeriesDays) -> SeriesCoverage:
    """Coverage of one series from its per-day summary."""
    from shared.domain.quality import session_gaps  # numpy: here, not on the gateway's way to ready

    sessions = expected_sessions(series.exchange, series.days[0], series.days[-1]) if series.days else None
    gaps = session_gaps(sessions, set(series.days)) if sessions is not None else None
    return SeriesCoverage(
        instrument_id=series.instrument_id,
        timeframe=series.timeframe,
        first_bar=series.first_bar,
        last_bar=series.last_bar,
        bars=series.bars,
        sessions_with_bars=len(series.days),
        expected_sessions=len(sessions) if sessions is not None else None,
        gap_sessions=gaps.missing if gaps is not None else None,
        gap_ranges=len(gaps.ranges) if gaps is not None else None,
        gaps=gaps.ranges[:MAX_GAP_RANGES] if gaps is not None else [],
        adjustment=series.adjustment,
        last_import=series.last_import,
    )
