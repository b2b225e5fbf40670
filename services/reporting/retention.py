"""The scheduled retention job: reports older than 90 days (BTS_REPORT_RETENTION_DAYS) go, row and file."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from services.reporting.report_job import RETENTION, purge_expired
from shared.platform.runtime.schedule import Clock, PeriodicJob, utc_now


class RetentionJob(PeriodicJob):
    def __init__(
        self, pool: asyncpg.Pool, every_s: float = 3600.0, clock: Clock = utc_now, keep: timedelta = RETENTION
    ) -> None:
        async def purge(now: datetime) -> int:
            async with pool.acquire() as conn:
                return await purge_expired(conn, now, keep)  # type: ignore[arg-type]

        super().__init__("report retention", purge, every_s, clock)
