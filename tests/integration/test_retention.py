"""Retention on the real database, each job run once on a fake clock: market data past the cutoff goes
(whole partitions dropped, the boundary partition's older rows deleted), backtest results a year after
they finished go with their trades and snapshots; nothing younger is touched."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import pytest_asyncio

from services.engine import repository as engine_repository
from services.engine.backtest_job import run_job
from services.engine.job import BacktestJob
from services.engine.retention import ResultRetention
from services.ingest.retention import MarketDataRetention
from shared.devstack.stack import Endpoints
from shared.platform.db.timeseries import ensure_partitions
from shared.platform.db.urls import role_url
from tests.integration.market import backtest_job, load_daily_symbols

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]


@pytest_asyncio.fixture(loop_scope="module")
async def ingest_pool(migrated: Endpoints) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(role_url(migrated.database_url, "ingest", "bts"), min_size=1, max_size=2)
    yield pool
    await pool.close()


async def _bars(pool: asyncpg.Pool, instrument: str, stamps: list[datetime]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await ensure_partitions(conn, "ingest.market_data", min(stamps), max(stamps))
        await conn.executemany(
            'INSERT INTO ingest.market_data (instrument_id, timeframe, "timestamp", open, high, low, close, volume) '
            "VALUES ($1, 'BAR_DAILY', $2, 10, 11, 9, 10.5, 100)",
            [(instrument, stamp) for stamp in stamps],
        )


async def _stamps(pool: asyncpg.Pool, instrument: str) -> list[datetime]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            'SELECT "timestamp" FROM ingest.market_data WHERE instrument_id = $1 ORDER BY 1', instrument
        )
    return [r["timestamp"] for r in rows]


async def _timescaledb(pool: asyncpg.Pool) -> bool:
    async with pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"))


async def _stored_at(pool: asyncpg.Pool, at: datetime) -> bool:
    """Whether market_data still has the storage that holds `at`: its monthly partition, or on TimescaleDB
    its chunk (30 days wide, aligned to the epoch, so its bounds are not the month's)."""
    async with pool.acquire() as conn:
        if await _timescaledb(pool):
            return bool(
                await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM timescaledb_information.chunks WHERE hypertable_schema = 'ingest' "
                    "AND hypertable_name = 'market_data' AND range_start <= $1 AND $1 < range_end)",
                    at,
                )
            )
        return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"ingest.market_data_p{at:%Y_%m}"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


async def test_market_data_older_than_the_rolling_window_goes(ingest_pool: asyncpg.Pool) -> None:
    instrument = f"R{uuid.uuid4().hex[:5].upper()}.NASDAQ"
    old = [utc(2014, 12, 15), utc(2015, 5, 20), utc(2015, 6, 10), utc(2015, 6, 15, 0, 0)]
    young = [utc(2015, 6, 15, 0, 1), utc(2015, 6, 20), utc(2015, 7, 1), utc(2016, 1, 4), utc(2020, 3, 2)]
    await _bars(ingest_pool, instrument, old + young)
    now = utc(2020, 6, 15, 0, 0, 30)  # 5 years back: 2015-06-15 00:00:30, before the backtestable range

    removed = await MarketDataRetention(ingest_pool, window_years=5, clock=lambda: now).run_once()

    assert await _stamps(ingest_pool, instrument) == [utc(2015, 6, 15, 0, 1), *young[1:]]
    assert removed >= 2 + 2  # two whole partitions dropped, the boundary partition's two old rows deleted
    assert not await _stored_at(ingest_pool, utc(2014, 12, 15))  # wholly past the cutoff: dropped
    assert not await _stored_at(ingest_pool, utc(2015, 5, 20))
    assert await _stored_at(ingest_pool, utc(2015, 6, 15, 0, 1))  # the boundary partition (or chunk) stays
    await MarketDataRetention(ingest_pool, window_years=5, clock=lambda: now).run_once()  # again: a no-op for ours
    assert await _stamps(ingest_pool, instrument) == [utc(2015, 6, 15, 0, 1), *young[1:]]


async def test_market_data_a_backtest_may_request_is_never_deleted(ingest_pool: asyncpg.Pool) -> None:
    instrument = f"R{uuid.uuid4().hex[:5].upper()}.NASDAQ"
    await _bars(
        ingest_pool,
        instrument,
        [utc(2018, 12, 28), utc(2018, 12, 31, 23, 59), utc(2019, 1, 1), utc(2019, 1, 2), utc(2021, 6, 1)],
    )
    now = utc(2031, 7, 1)  # now - 5 years is 2026: far inside the backtestable range 2019..2024

    await MarketDataRetention(ingest_pool, window_years=5, clock=lambda: now).run_once()

    assert await _stamps(ingest_pool, instrument) == [utc(2019, 1, 1), utc(2019, 1, 2), utc(2021, 6, 1)]
    if not await _timescaledb(ingest_pool):  # the 2018-12 partition ends at the cutoff (a chunk need not)
        assert not await _stored_at(ingest_pool, utc(2018, 12, 28))
    assert await _stored_at(ingest_pool, utc(2019, 1, 1))


def _job(**overrides: object) -> BacktestJob:
    return backtest_job(["RETA.NASDAQ"], "RETA", **overrides)


async def _counts(conn: asyncpg.Connection, result_id: uuid.UUID) -> tuple[int, int, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM engine.backtest_results WHERE id = $1) AS results, "
        "(SELECT count(*) FROM engine.trades WHERE backtest_result_id = $1) AS trades, "
        "(SELECT count(*) FROM engine.portfolio_snapshots WHERE backtest_result_id = $1) AS snapshots",
        result_id,
    )
    return row["results"], row["trades"], row["snapshots"]


async def test_results_a_year_after_they_finished_go_with_trades_and_snapshots(
    migrated: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> None:
    await load_daily_symbols(migrated.database_url, tmp_path_factory.mktemp("bars"), ("RETA",))
    pool = await asyncpg.create_pool(role_url(migrated.database_url, "engine", "bts"), min_size=1, max_size=2)
    try:
        old, failed, young = _job(), _job(instrument_ids=["NOPE.NASDAQ"]), _job()
        for job in (old, failed, young):
            await run_job(pool, job)
        async with pool.acquire() as conn:
            pending = uuid.uuid4()  # never finished: no completed_at, never expires
            await engine_repository.claim_result(conn, pending, uuid.uuid4(), uuid.uuid4(), {})
            before = {job.backtest_id: await _counts(conn, job.backtest_id) for job in (old, young)}
            young_done = await conn.fetchval(
                "SELECT completed_at FROM engine.backtest_results WHERE id = $1", young.backtest_id
            )
        assert before[old.backtest_id][1] > 0  # it has trades
        assert before[old.backtest_id][2] > 0  # and snapshots
        now = young_done + timedelta(days=365)  # the young one is exactly a year old: not older than a year

        removed = await ResultRetention(pool, keep=timedelta(days=365), clock=lambda: now, batch=1).run_once()

        assert removed >= 2
        async with pool.acquire() as conn:
            assert await _counts(conn, old.backtest_id) == (0, 0, 0)
            assert await _counts(conn, failed.backtest_id) == (0, 0, 0)
            assert await _counts(conn, young.backtest_id) == before[young.backtest_id]
            assert await _counts(conn, pending) == (1, 0, 0)
    finally:
        await pool.close()
