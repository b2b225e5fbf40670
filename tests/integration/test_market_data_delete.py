"""Ingest's side of deleting market data on the real database: with the versions kept, the bars leave the
current data but a result's reproduction still reads them as of its run; without, the series goes entirely."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import pytest
import pytest_asyncio

from services.engine.backtest_job import run_job
from services.ingest.lifecycle import MarketDataDeletion
from shared.contracts import topics
from shared.contracts.events import MarketDataDeleteRequested, make_event
from shared.contracts.models import Timeframe
from shared.devstack.stack import Endpoints
from shared.platform.db.urls import role_url
from tests.integration.market import backtest_job, load_daily_symbols

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

SERIES = "instrument_id = $1 AND timeframe = 'BAR_DAILY'"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pools(
    migrated: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    await load_daily_symbols(migrated.database_url, tmp_path_factory.mktemp("deleted"), ("MDA", "MDB", "MDX"))
    engine = await asyncpg.create_pool(role_url(migrated.database_url, "engine", "bts"), min_size=1, max_size=2)
    ingest = await asyncpg.create_pool(role_url(migrated.database_url, "ingest", "bts"), min_size=1, max_size=2)
    yield engine, ingest
    await engine.close()
    await ingest.close()


async def _count(pool: asyncpg.Pool, table: str, instrument: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM ingest.{table} WHERE {SERIES}", instrument))


async def _delete(ingest: asyncpg.Pool, instrument: str, keep_versions: bool) -> None:
    data = MarketDataDeleteRequested(
        instrument_id=instrument, timeframe=Timeframe.BAR_DAILY, user_id=uuid.uuid4(), keep_versions=keep_versions
    )
    for _ in range(2):  # a redelivery changes nothing
        await MarketDataDeletion(ingest)(make_event(topics.MARKET_DATA_DELETE_REQUESTED, data, source="test"))


async def test_forced_deletion_keeps_the_version_a_result_read(pools: tuple[asyncpg.Pool, asyncpg.Pool]) -> None:
    engine, ingest = pools
    original = backtest_job(["MDA.NASDAQ"], "MDX")
    assert (await run_job(engine, original)).status == "COMPLETED"
    async with engine.acquire() as conn:
        as_of: datetime = await conn.fetchval(
            "SELECT data_as_of FROM engine.backtest_results WHERE id = $1", original.backtest_id
        )
    bars = await _count(ingest, "market_data", "MDA.NASDAQ")
    assert bars == 505

    await _delete(ingest, "MDA.NASDAQ", keep_versions=True)
    assert await _count(ingest, "market_data", "MDA.NASDAQ") == 0
    assert await _count(ingest, "market_data_history", "MDA.NASDAQ") == bars  # moved, not dropped

    latest = await run_job(engine, backtest_job(["MDA.NASDAQ"], "MDX"))
    assert latest.status == "FAILED"  # no current bars any more
    reproduced = await run_job(engine, backtest_job(["MDA.NASDAQ"], "MDX", data_as_of=as_of))
    assert reproduced.status == "COMPLETED", reproduced.error_message
    assert reproduced.trades_count == (await _trades(engine, original.backtest_id))


async def _trades(engine: asyncpg.Pool, backtest_id: object) -> int:
    async with engine.acquire() as conn:
        return int(await conn.fetchval("SELECT trades_count FROM engine.backtest_results WHERE id = $1", backtest_id))


async def test_an_unused_series_goes_entirely(pools: tuple[asyncpg.Pool, asyncpg.Pool]) -> None:
    _, ingest = pools
    assert await _count(ingest, "market_data", "MDB.NASDAQ") == 505
    await _delete(ingest, "MDB.NASDAQ", keep_versions=False)
    for table in ("market_data", "market_data_history", "market_data_versions", "series_adjustment"):
        assert await _count(ingest, table, "MDB.NASDAQ") == 0, table
    assert await _count(ingest, "market_data", "MDX.NASDAQ") == 505  # other series untouched
