"""Pure parts of market-data coverage and reads: gap runs over a calendar, the coverage of a series, the
inclusive date-only end of a bar read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from services.api.domain.bar_range import exclusive_end
from services.api.domain.coverage import MAX_GAP_RANGES, series_coverage
from shared.domain.quality import session_gaps

# NASDAQ sessions around Thanksgiving 2020 (26th closed) and a weekend.
SESSIONS = [date(2020, 11, d) for d in (19, 20, 23, 24, 25, 27, 30)]


def test_missing_sessions_form_runs_across_holidays_and_weekends_but_not_across_a_bar() -> None:
    present = {date(2020, 11, 19), date(2020, 11, 24), date(2020, 11, 30)}
    gaps = session_gaps(SESSIONS, present)
    assert gaps.missing == 4
    assert gaps.ranges == [(date(2020, 11, 20), date(2020, 11, 23)), (date(2020, 11, 25), date(2020, 11, 27))]


def test_no_gap_and_all_missing() -> None:
    assert session_gaps(SESSIONS, set(SESSIONS)).ranges == []
    everything = session_gaps(SESSIONS, set())
    assert (everything.missing, everything.ranges) == (7, [(SESSIONS[0], SESSIONS[-1])])


@dataclass(frozen=True)
class Series:
    instrument_id: str
    timeframe: str
    exchange: str | None
    first_bar: datetime
    last_bar: datetime
    bars: int
    days: list[date]
    last_import: datetime | None = None
    adjustment: str = "RAW"


def _series(days: list[date], exchange: str | None = "NASDAQ") -> Series:
    first, last = (datetime.combine(d, datetime.min.time(), UTC) for d in (days[0], days[-1]))
    return Series("X.NASDAQ", "BAR_DAILY", exchange, first, last, len(days), days)


def test_coverage_counts_expected_sessions_over_first_to_last_and_caps_the_listed_ranges() -> None:
    # Every other session of January 2021 (19 sessions; MLK day the 18th): 9 one-session gaps.
    january = [date(2021, 1, d) for d in (4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 19, 20, 21, 22, 25, 26, 27, 28, 29)]
    coverage = series_coverage(_series(january[::2]))
    assert (coverage.expected_sessions, coverage.sessions_with_bars, coverage.bars) == (19, 10, 10)
    assert (coverage.gap_sessions, coverage.gap_ranges) == (9, 9)
    assert len(coverage.gaps) == MAX_GAP_RANGES
    assert coverage.gaps[0] == (date(2021, 1, 5), date(2021, 1, 5))
    assert coverage.adjustment == "RAW"


def test_an_exchange_without_a_calendar_has_no_expected_sessions() -> None:
    coverage = series_coverage(_series([date(2021, 1, 4), date(2021, 1, 6)], exchange="NOWHERE"))
    assert (coverage.expected_sessions, coverage.gap_sessions, coverage.gaps) == (None, None, [])
    assert series_coverage(_series([date(2021, 1, 4)], exchange=None)).expected_sessions is None


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("2024-01-05", datetime(2024, 1, 6, tzinfo=UTC)),  # a date: that day included
        ("2024-01-05T00:00:00", datetime(2024, 1, 5, tzinfo=UTC)),  # a timestamp: excluded, naive is UTC
        ("2024-01-05T15:30:00Z", datetime(2024, 1, 5, 15, 30, tzinfo=UTC)),
        ("2024-12-31", datetime(2025, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_date_only_end_includes_its_day_and_a_timestamp_is_exclusive(text: str, bound: datetime) -> None:
    assert exclusive_end(text) == bound


@pytest.mark.parametrize("text", ["2024-13-01", "tomorrow", "", "2024-02-30"])
def test_an_unreadable_end_names_the_formats(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a date YYYY-MM-DD \(that day included\) or an ISO 8601 timestamp"):
        exclusive_end(text)
