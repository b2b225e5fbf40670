"""The scheduled retention job of results: a backtest result that finished more than a year ago
(BTS_RESULT_RETENTION_DAYS) goes, with its trades and portfolio snapshots.

The gateway keeps its status row (the backtest did run) and answers 410 Gone for the result, trades
and portfolio of a finished backtest whose result is no longer there.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import structlog

from services.engine.repository import delete_finished_before
from shared.platform.runtime.schedule import Clock, PeriodicJob, utc_now

log = structlog.get_logger()


class ResultRetention(PeriodicJob):
    def __init__(
        self,
        pool: asyncpg.Pool,
        keep: timedelta = timedelta(days=365),
        every_s: float = 3600.0,
        clock: Clock = utc_now,
        batch: int = 100,
    ) -> None:
        async def purge(now: datetime) -> int:
            removed = 0
            while True:  # small batches: short transactions, no long lock on the results table
                async with pool.acquire() as conn, conn.transaction():
                    ids = await delete_finished_before(conn, now - keep, batch)
                removed += len(ids)
                if ids:
                    log.info("expired backtest results deleted", count=len(ids), first=str(ids[0]))
                if len(ids) < batch:
                    return removed

        super().__init__("result retention", purge, every_s, clock)
