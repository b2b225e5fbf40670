"""The system time market data is versioned by, and how an import and a reader of a series agree on it.

An import of a series holds an exclusive transaction lock on the series from before it takes its version
time until it commits; a reader that picked its as-of time takes the shared lock before reading. So every
import stamped at or before the as-of has committed when the reader reads, and every later one is
stamped after it: reading the same as-of again later returns the same bars.
"""

from __future__ import annotations

from datetime import datetime

from shared.platform.db.types import Connection


def _lock_key(instrument: str, timeframe: str) -> str:
    """SQL of the advisory lock key of an (instrument, timeframe) series, given their SQL expressions; hashtext
    collisions only make unrelated series wait."""
    return f"hashtext('market_data:' || {instrument} || ':' || {timeframe})"


_KEY = _lock_key("$1", "$2")


async def begin_series_version(conn: Connection, instrument_id: str, timeframe: str) -> datetime:
    """For an import (inside its transaction): lock the series until commit; returns the version time."""
    await conn.execute(f"SELECT pg_advisory_xact_lock({_KEY})", instrument_id, timeframe)
    stamp: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return stamp


async def settled_as_of(conn: Connection, instrument_id: str, timeframe: str) -> None:
    """For a reader as of a time taken before this call (inside its transaction): wait for the imports of
    the series that were stamped by then to commit."""
    await settled_series_as_of(conn, [(instrument_id, timeframe)])


async def settled_series_as_of(conn: Connection, series: list[tuple[str, str]]) -> None:
    """`settled_as_of` for several (instrument, timeframe) series in one statement."""
    await conn.execute(
        f"SELECT pg_advisory_xact_lock_shared({_lock_key('i', 't')}) FROM unnest($1::text[], $2::text[]) AS s(i, t)",
        [i for i, _ in series],
        [t for _, t in series],
    )
