"""The scheduled retention job: reports older than 90 days are deleted, row and file."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import structlog

from services.reporting.report_job import purge_expired
from shared.runtime.tasks import cancel

log = structlog.get_logger()


class RetentionJob:
    def __init__(self, pool: asyncpg.Pool, every_s: float = 3600.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self.pool, self.every_s, self.clock = pool, every_s, clock
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        async with self.pool.acquire() as conn:
            removed = await purge_expired(conn, self.clock())  # type: ignore[arg-type]
        if removed:
            log.info("expired reports removed", count=removed)
        return removed

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.run_once()
            await asyncio.sleep(self.every_s)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
