"""backtest.deleted and sweep.deleted in (reporting's lifecycle consumer group): the reports go, rows and files.

Idempotent (a redelivered event finds nothing left). The failure record of the backtest goes too, so the
reconciler has nothing to retry. The gateway already checked ownership before publishing; the engine's
result is gone (or going) by then, so there is no owner to compare with here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from services.reporting import repository
from services.reporting.repository import ReportTable
from shared.contracts import topics
from shared.contracts.events import Envelope

log = structlog.get_logger()


class LifecycleHandler:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __call__(self, envelope: Envelope[Any]) -> None:
        if envelope.type == topics.SWEEP_DELETED:
            removed = await self._delete(repository.SWEEP_REPORTS, envelope.data.sweep_id)
            log.info("sweep reports deleted", sweep_id=str(envelope.data.sweep_id), files=removed)
            return
        backtest_id = envelope.data.backtest_id
        removed = await self._delete(repository.BACKTEST_REPORTS, backtest_id)
        async with self.pool.acquire() as conn:
            await conn.execute("DELETE FROM reporting.report_failures WHERE backtest_result_id = $1", backtest_id)
        log.info("backtest reports deleted", backtest_id=str(backtest_id), files=removed)

    async def _delete(self, table: ReportTable, owner_id: UUID) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(f"DELETE FROM {table.name} WHERE {table.owner} = $1 RETURNING file_path", owner_id)
        for row in rows:  # after the commit: a file outlives its row only if the process dies right here
            await asyncio.to_thread(Path(row["file_path"]).unlink, missing_ok=True)
        return len(rows)
