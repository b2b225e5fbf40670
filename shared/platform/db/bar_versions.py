"""The system time market data is versioned by, and how an import and a reader of a series agree on it.

An import of a series holds an exclusive transaction lock on the series from before it takes its version
time until it commits; a reader that picked its as-of time takes the shared lock before reading. So every
import stamped at or before the as-of has committed when the reader reads, and every later one is
stamped after it: reading the same as-of again later returns the same bars.
"""

from __future__ import annotations

from datetime import datetime

from shared.platform.db.types import Connection

# One advisory lock key per (instrument, timeframe); hashtext collisions only make unrelated series wait.
_KEY = "hashtext('market_data:' || $1 || ':' || $2)"


async def begin_series_version(conn: Connection, instrument_id: str, timeframe: str) -> datetime:
    """For an import (inside its transaction): lock the series until commit; returns the version time."""
    await conn.execute(f"SELECT pg_advisory_xact_lock({_KEY})", instrument_id, timeframe)
    stamp: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return stamp


async def settled_as_of(conn: Connection, instrument_id: str, timeframe: str) -> None:
    """For a reader as of a time taken before this call (inside its transaction): wait for the imports of
    the series that were stamped by then to commit."""
    await conn.execute(f"SELECT pg_advisory_xact_lock_shared({_KEY})", instrument_id, timeframe)
