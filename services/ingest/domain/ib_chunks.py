"""Split a date range into the historical-data requests IB allows for a bar size (pure).

IB caps the duration of one request per bar size (its "historical data limitations" table); a long
range becomes several requests, each ending where the previous one began. Durations are written in
days ("7 D" for a week, "30 D" for a month, "365 D" for a year) so the chunk arithmetic stays exact;
the earliest chunk is rounded up to whole days and the fetcher drops bars outside [start, end).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

DAY: Final = timedelta(days=1)
IB_BAR_SIZE: Final = {"BAR_1MIN": "1 min", "BAR_5MIN": "5 mins", "BAR_1HOUR": "1 hour", "BAR_DAILY": "1 day"}
# IB's longest request per bar size: 1 min -> 1 D, 3..20 mins -> 1 W, 30 mins / 1 hour -> 1 M, 1 day -> 1 Y
MAX_DAYS: Final = {
    "1 min": 1,
    "2 mins": 2,
    "3 mins": 7,
    "5 mins": 7,
    "10 mins": 7,
    "15 mins": 7,
    "20 mins": 7,
    "30 mins": 30,
    "1 hour": 30,
    "1 day": 365,
}


@dataclass(frozen=True)
class IbEndpoint:
    """Where TWS or IB Gateway listens, and the client id ingest connects with."""

    host: str
    port: int
    client_id: int


@dataclass(frozen=True)
class Chunk:
    end: datetime  # UTC, exclusive
    duration: str  # IB duration string, e.g. "1 D"

    @property
    def days(self) -> int:
        return int(self.duration.split()[0])

    @property
    def start(self) -> datetime:
        return self.end - self.days * DAY


def plan_chunks(start: datetime, end: datetime, bar_size: str) -> list[Chunk]:
    """Requests covering [start, end), oldest first, each at most IB's longest duration for `bar_size`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware (UTC)")
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    if bar_size not in MAX_DAYS:
        raise ValueError(f"unknown IB bar size {bar_size!r}; known: {', '.join(MAX_DAYS)}")
    longest = MAX_DAYS[bar_size]
    chunks: list[Chunk] = []
    cursor = end
    while cursor > start:
        days = min(longest, math.ceil((cursor - start) / DAY))
        chunks.append(Chunk(end=cursor, duration=f"{days} D"))
        cursor -= days * DAY
    return chunks[::-1]
