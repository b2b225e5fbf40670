"""The engine's side of cancel and delete on the real database: a cancelled run stops inside Nautilus and
leaves a FAILED result with no trades or snapshots; backtest.deleted removes the result with its rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
import pytest_asyncio

from services.engine.backtest_job import run_job
from services.engine.cancellation import cancel_checked, is_cancelled, record_cancellation, table_check
from services.engine.lifecycle import LifecycleHandler
from shared.contracts import topics
from shared.contracts.events import BacktestCancelRequested, BacktestDeleted, make_event
from shared.contracts.models.backtest import CANCELLED_BY_USER
from shared.devstack.stack import Endpoints
from tests.integration.market import backtest_job, engine_pool_on

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SYMBOLS = ("LCA", "SPY")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine_pool(migrated: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[asyncpg.Pool]:
    async with engine_pool_on(migrated.database_url, tmp_path_factory.mktemp("bars"), SYMBOLS, max_size=4) as pool:
        yield pool


async def _rows(pool: asyncpg.Pool, backtest_id: uuid.UUID) -> tuple[int, int, int]:
    """(results, trades, snapshots) of a backtest."""
    async with pool.acquire() as conn:
        results = await conn.fetchval("SELECT count(*) FROM engine.backtest_results WHERE id = $1", backtest_id)
        trades = await conn.fetchval("SELECT count(*) FROM engine.trades WHERE backtest_result_id = $1", backtest_id)
        snapshots = await conn.fetchval(
            "SELECT count(*) FROM engine.portfolio_snapshots WHERE backtest_result_id = $1", backtest_id
        )
    return int(results), int(trades), int(snapshots)


async def test_a_cancelled_run_stops_in_nautilus_and_leaves_no_partial_rows(engine_pool: asyncpg.Pool) -> None:
    job = backtest_job(["LCA.NASDAQ"], "SPY")
    async with engine_pool.acquire() as conn:
        await record_cancellation(conn, job.backtest_id, job.user_id, datetime.now(UTC))
    with cancel_checked(table_check(engine_pool, job.backtest_id)):
        outcome = await run_job(engine_pool, job)  # claimed RUNNING, bars loaded, stopped at Nautilus' first bar
    assert (outcome.status, outcome.error_message) == ("FAILED", CANCELLED_BY_USER)
    async with engine_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, error_message, started_at FROM engine.backtest_results WHERE id = $1", job.backtest_id
        )
    assert (row["status"], row["error_message"]) == ("FAILED", CANCELLED_BY_USER)
    assert row["started_at"] is not None  # it did start: the stop came from inside the run
    assert await _rows(engine_pool, job.backtest_id) == (1, 0, 0)

    control = backtest_job(["LCA.NASDAQ"], "SPY")  # the same run, not cancelled, completes with its rows
    with cancel_checked(table_check(engine_pool, control.backtest_id)):
        assert (await run_job(engine_pool, control)).status == "COMPLETED"
    _, trades, snapshots = await _rows(engine_pool, control.backtest_id)
    assert trades > 0
    assert snapshots > 0


async def test_backtest_deleted_removes_the_result_its_trades_and_snapshots(engine_pool: asyncpg.Pool) -> None:
    job = backtest_job(["LCA.NASDAQ"], "SPY")
    assert (await run_job(engine_pool, job)).status == "COMPLETED"
    handler = LifecycleHandler(engine_pool)
    stranger = BacktestDeleted(backtest_id=job.backtest_id, user_id=uuid.uuid4())
    await handler(make_event(topics.BACKTEST_DELETED, stranger, source="test"))  # another user's: ignored
    results, trades, snapshots = await _rows(engine_pool, job.backtest_id)
    assert results == 1
    assert trades > 0
    assert snapshots > 0

    cancel = BacktestCancelRequested(backtest_id=job.backtest_id, user_id=job.user_id)
    await handler(make_event(topics.BACKTEST_CANCEL_REQUESTED, cancel, source="test"))
    deleted = BacktestDeleted(backtest_id=job.backtest_id, user_id=job.user_id)
    for _ in range(2):  # a redelivery changes nothing
        await handler(make_event(topics.BACKTEST_DELETED, deleted, source="test"))
    assert await _rows(engine_pool, job.backtest_id) == (0, 0, 0)
    async with engine_pool.acquire() as conn:
        assert not await is_cancelled(conn, job.backtest_id)


async def test_a_cancellation_of_a_request_not_run_yet_is_recorded_for_every_replica(engine_pool: asyncpg.Pool) -> None:
    backtest_id, user_id = uuid.uuid4(), uuid.uuid4()
    handler = LifecycleHandler(engine_pool)
    cancel = BacktestCancelRequested(backtest_id=backtest_id, user_id=user_id)
    for _ in range(2):
        await handler(make_event(topics.BACKTEST_CANCEL_REQUESTED, cancel, source="test"))
    async with engine_pool.acquire() as conn:
        assert await is_cancelled(conn, backtest_id)
        assert await conn.fetchval("SELECT count(*) FROM engine.cancellations WHERE backtest_id = $1", backtest_id) == 1
