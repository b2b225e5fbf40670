"""The scheduled retention job of market data: bars older than the cutoff of `domain.retention` go,
whole partitions (or TimescaleDB chunks) first, then the boundary partition's rows; the replaced
versions of those bars (market_data_history) go with them."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import structlog

from services.ingest.domain.retention import market_data_cutoff
from shared.platform.db.timeseries import purge_before
from shared.platform.db.types import Connection
from shared.platform.runtime.schedule import Clock, PeriodicJob, utc_now

log = structlog.get_logger()
TABLE = "ingest.market_data"


async def purge_history_before(conn: Connection, cutoff: datetime) -> int:
    """Retention: replaced versions of bars stamped before `cutoff` (the current bars go by partition)."""
    tag = await conn.execute('DELETE FROM ingest.market_data_history WHERE "timestamp" < $1', cutoff)
    return int(str(tag).split()[-1])


class MarketDataRetention(PeriodicJob):
    def __init__(
        self, pool: asyncpg.Pool, window_years: int = 5, every_s: float = 3600.0, clock: Clock = utc_now
    ) -> None:
        async def purge(now: datetime) -> int:
            cutoff = market_data_cutoff(now, window_years)
            async with pool.acquire() as conn:
                dropped, deleted = await purge_before(conn, TABLE, cutoff)
                deleted += await purge_history_before(conn, cutoff)
            if dropped or deleted:
                log.info(
                    "market data retention", cutoff=cutoff.isoformat(), partitions_dropped=dropped, rows_deleted=deleted
                )
            return dropped + deleted

        super().__init__("market data retention", purge, every_s, clock)
