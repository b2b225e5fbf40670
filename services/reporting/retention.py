"""The scheduled retention job: reports older than 90 days (BTS_REPORT_RETENTION_DAYS) go, row and file."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from services.reporting import repository
from shared.platform.runtime.schedule import Clock, PeriodicJob, utc_now

RETENTION = timedelta(days=90)


async def purge_expired(conn: asyncpg.Connection, now: datetime, keep: timedelta = RETENTION) -> int:
    """Retention: reports older than `keep` (90 days) go, row and file (backtests' and sweeps')."""
    removed = 0
    for table in (repository.BACKTEST_REPORTS, repository.SWEEP_REPORTS):
        for row in await repository.expired_reports(conn, table, now - keep):
            await asyncio.to_thread(Path(row["file_path"]).unlink, missing_ok=True)
            await repository.delete_report(conn, table, row["id"])
            removed += 1
    return removed


class RetentionJob(PeriodicJob):
    def __init__(
        self, pool: asyncpg.Pool, every_s: float = 3600.0, clock: Clock = utc_now, keep: timedelta = RETENTION
    ) -> None:
        async def purge(now: datetime) -> int:
            async with pool.acquire() as conn:
                return await purge_expired(conn, now, keep)  # type: ignore[arg-type]

        super().__init__("report retention", purge, every_s, clock)
