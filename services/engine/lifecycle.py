"""backtest.cancel_requested and backtest.deleted in (the engine's lifecycle consumer group).

A cancellation is recorded for the run loop to see (services/engine/cancellation.py); a deletion removes the
result with its trades and portfolio snapshots (ON DELETE CASCADE) and any cancellation of it. Both are
idempotent: a redelivered event changes nothing. Only the result's owner can do either: an event naming
another user's result is ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from services.engine import repository
from services.engine.cancellation import record_cancellation
from shared.contracts import topics
from shared.contracts.events import BacktestCancelRequested, BacktestDeleted, Envelope
from shared.platform.db.types import Connection
from shared.platform.runtime.metrics import EVENTS_IGNORED

log = structlog.get_logger()


class LifecycleHandler:
    def __init__(self, pool: asyncpg.Pool, service: str = "engine") -> None:
        self.pool, self.service = pool, service

    async def __call__(self, envelope: Envelope[Any]) -> None:
        data: BacktestCancelRequested | BacktestDeleted = envelope.data
        async with self.pool.acquire() as conn, conn.transaction():
            owner = await repository.result_owner(conn, data.backtest_id)
            if owner is not None and owner != data.user_id:
                EVENTS_IGNORED.labels(self.service, envelope.type, "another user's backtest").inc()
                log.warning("lifecycle event names another user's backtest: ignored", backtest_id=str(data.backtest_id))
                return
            if envelope.type == topics.BACKTEST_CANCEL_REQUESTED:
                await record_cancellation(conn, data.backtest_id, data.user_id, datetime.now(UTC))
                log.info("backtest cancellation recorded", backtest_id=str(data.backtest_id))
                return
            await delete_result(conn, data)


async def delete_result(conn: Connection, data: BacktestCancelRequested | BacktestDeleted) -> None:
    """The result, its trades and snapshots, and its cancellation record, in one transaction."""
    removed = await conn.fetchval(
        "DELETE FROM engine.backtest_results WHERE id = $1 AND user_id = $2 RETURNING id",
        data.backtest_id,
        data.user_id,
    )
    await conn.execute("DELETE FROM engine.cancellations WHERE backtest_id = $1", data.backtest_id)
    log.info("backtest result deleted", backtest_id=str(data.backtest_id), found=removed is not None)
