"""A time range asked for by a client (pure): aware, in UTC, within sane dates, start before end.

Checked before a read starts streaming or a request is queued: a date the database or Python cannot
represent (year 9999 with a negative offset is year 10000 in UTC) must be a 422 naming the field, never
a 500 or a 200 cut off mid-body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from services.api.domain.submission import Problem

EARLIEST: Final = datetime(1900, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime


def _in_utc(value: datetime) -> datetime | None:
    """`value` in UTC (naive means UTC), or None when it is outside [EARLIEST, LATEST]."""
    try:
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        converted = aware.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return converted if EARLIEST <= converted <= LATEST else None


def time_range(start: datetime, end: datetime, where: str) -> TimeRange | list[Problem]:
    """The range in UTC, or the problems naming `<where>.start` / `<where>.end`."""
    problems: list[Problem] = []
    bounds = f"between {EARLIEST.date()} and {LATEST.date()} (UTC)"
    lo, hi = _in_utc(start), _in_utc(end)
    if lo is None:
        problems.append(Problem(f"{where}.start", f"start must be {bounds}, got {start.isoformat()}"))
    if hi is None:
        problems.append(Problem(f"{where}.end", f"end must be {bounds}, got {end.isoformat()}"))
    if lo is not None and hi is not None and hi <= lo:
        problems.append(Problem(f"{where}.end", f"end ({hi.isoformat()}) must be after start ({lo.isoformat()})"))
    if problems or lo is None or hi is None:
        return problems
    return TimeRange(lo, hi)
