"""How far back market data is kept: the data model's 5-year rolling window, but never into the range a valid
backtest may request (start_date >= 2019-01-01), so a backtest the platform accepts always finds its bars."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from shared.contracts.models.backtest import EARLIEST


def years_before(moment: datetime, years: int) -> datetime:
    """The same calendar day `years` earlier (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def market_data_cutoff(now: datetime, window_years: int, earliest_start: date = EARLIEST) -> datetime:
    """Bars stamped before this go: min(now - window, the earliest backtest start at 00:00 UTC)."""
    floor = datetime.combine(earliest_start, time(), UTC)
    return min(years_before(now, window_years), floor)
