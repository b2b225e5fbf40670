"""The time range of a market-data read (pure): a date-only `end` includes that day, a timestamp is exclusive."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from pydantic import TypeAdapter, ValidationError

END_FORMATS: Final = "a date YYYY-MM-DD (that day included) or an ISO 8601 timestamp (excluded; naive means UTC)"
_DATE_ONLY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP: Final = TypeAdapter(datetime)


def exclusive_end(text: str) -> datetime:
    """The exclusive upper bound `end` stands for: the next day 00:00 UTC for a date, else the timestamp.
    Raises ValueError naming the accepted formats."""
    value = text.strip()
    try:
        if _DATE_ONLY.fullmatch(value):
            return datetime.combine(date.fromisoformat(value) + timedelta(days=1), time(), UTC)
        moment = _TIMESTAMP.validate_python(value)
    except (ValueError, OverflowError, ValidationError):
        raise ValueError(f"{text!r} is not {END_FORMATS}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
