"""Cancelling a backtest: which runs their owners cancelled (engine.cancellations), and how a run learns it.

The gateway publishes `backtest.cancel_requested`; the engine's lifecycle consumer (its own group, so it is
not stuck behind a running backtest) records the id in engine.cancellations. Whichever replica runs or will
run the backtest reads that table: a request not started yet is refused, and a running one is checked at
each progress sample (every second) and stopped at its next bar (RunTracker.cancel). The run then ends
FAILED with CANCELLED_BY_USER and, as for any failure, no trades or snapshots.

How the check reaches run_with_progress: a context variable set by the handler around `run_job`, so the job
module itself need not carry it through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.platform.db.types import Connection

CancelCheck = Callable[[], Awaitable[bool]]
CANCEL_CHECK: ContextVar[CancelCheck | None] = ContextVar("bts_engine_cancel_check", default=None)


@contextmanager
def cancel_checked(check: CancelCheck) -> Iterator[None]:
    """Runs started inside this block ask `check` at each progress sample whether to stop."""
    token = CANCEL_CHECK.set(check)
    try:
        yield
    finally:
        CANCEL_CHECK.reset(token)


def table_check(pool: asyncpg.Pool, backtest_id: UUID) -> CancelCheck:
    """Whether `backtest_id` was cancelled, asked of engine.cancellations (one indexed lookup)."""

    async def check() -> bool:
        async with pool.acquire() as conn:
            return await is_cancelled(conn, backtest_id)

    return check


async def record_cancellation(conn: Connection, backtest_id: UUID, user_id: UUID, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO engine.cancellations (backtest_id, user_id, requested_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (backtest_id) DO NOTHING",
        backtest_id,
        user_id,
        at,
    )


async def is_cancelled(conn: Connection, backtest_id: UUID) -> bool:
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM engine.cancellations WHERE backtest_id = $1)", backtest_id)
    )
