"""market_data.delete_requested in (ingest's lifecycle consumer group): an instrument's bars go.

Each series (instrument, timeframe) is changed under the same lock an import takes (shared/platform/db/bar_versions.py),
so a reader as of a time sees the series whole before or after. With `keep_versions`, the current bars move to
market_data_history replaced at the deletion's version time: the series is empty from then on, but reading as
of an earlier time (a result's data_as_of: its reproduction) still finds the bars the result was computed from.
Without it, the series goes entirely: current bars, history, import versions and its adjustment. Idempotent:
deleting an empty series changes nothing.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog

from shared.contracts.events import Envelope, MarketDataDeleteRequested
from shared.platform.db.bar_versions import begin_series_version
from shared.platform.db.types import Connection

log = structlog.get_logger()
SERIES = "instrument_id = $1 AND timeframe = $2"
BAR_COLUMNS = 'instrument_id, timeframe, "timestamp", open, high, low, close, volume, valid_from'


class MarketDataDeletion:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __call__(self, envelope: Envelope[Any]) -> None:
        data: MarketDataDeleteRequested = envelope.data
        async with self.pool.acquire() as conn:
            timeframes = [data.timeframe.value] if data.timeframe else await _timeframes(conn, data.instrument_id)
            for timeframe in timeframes:
                async with conn.transaction():
                    removed = await delete_series(conn, data.instrument_id, timeframe, data.keep_versions)
                log.info(
                    "market data deleted",
                    instrument_id=data.instrument_id,
                    timeframe=timeframe,
                    bars=removed,
                    versions_kept=data.keep_versions,
                )


async def _timeframes(conn: Connection, instrument_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT timeframe FROM ingest.market_data WHERE instrument_id = $1 UNION "
        "SELECT timeframe FROM ingest.market_data_history WHERE instrument_id = $1 UNION "
        "SELECT timeframe FROM ingest.market_data_versions WHERE instrument_id = $1",
        instrument_id,
    )
    return sorted(r["timeframe"] for r in rows)


async def delete_series(conn: Connection, instrument_id: str, timeframe: str, keep_versions: bool) -> int:
    """Inside the caller's transaction: the series' current bars removed (moved to the history when
    `keep_versions`); how many."""
    stamp = await begin_series_version(conn, instrument_id, timeframe)
    if keep_versions:
        await conn.execute(
            f"INSERT INTO ingest.market_data_history ({BAR_COLUMNS}, valid_to) "
            f"SELECT {BAR_COLUMNS}, $3 FROM ingest.market_data WHERE {SERIES}",
            instrument_id,
            timeframe,
            stamp,
        )
    status = await conn.execute(f"DELETE FROM ingest.market_data WHERE {SERIES}", instrument_id, timeframe)
    if not keep_versions:
        for table in ("market_data_history", "market_data_versions", "series_adjustment"):
            await conn.execute(f"DELETE FROM ingest.{table} WHERE {SERIES}", instrument_id, timeframe)
    return int(status.split()[-1])
