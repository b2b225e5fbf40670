"""A replica reuses the inputs it read for an earlier run of the same instruments and period only while the
data they were read from is unchanged: each reuse equals a fresh read as of the same time, and any change (a
re-import of the bars or of the benchmark's, a corporate action, an instrument's row) makes the next run read
again. A reproduction (a run as of a given time) always reads the database. The engine's warm-up reads a
made-up job's inputs on the connections a first backtest uses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from services.engine.input_cache import InputCache
from services.engine.inputs import Inputs, cached_inputs, load_inputs
from services.engine.job import BacktestJob
from services.engine.warmup import WARM_CONNECTIONS, synthetic_job, warm_connections
from services.ingest.csv_import import ImportPlan, import_csv
from services.ingest.domain.sessions import SessionTable
from shared.devstack.stack import Endpoints
from shared.domain.calendars import calendar_for
from shared.platform.db.urls import asyncpg_dsn, role_url
from tests.integration.market import backtest_job, engine_pool_on, other_vendor, write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

ConnectAs = Callable[[str], Awaitable[asyncpg.Connection]]
SYMBOLS = ("IRA", "IRB", "IRC")  # two traded, one the benchmark; seeds 0, 1, 2 (load_daily_symbols)
TRADED = ["IRA.NASDAQ", "IRB.NASDAQ"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine_pool(migrated: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[asyncpg.Pool]:
    async with engine_pool_on(migrated.database_url, tmp_path_factory.mktemp("reuse"), SYMBOLS) as pool:
        yield pool


def _job(**overrides: object) -> BacktestJob:
    return backtest_job(TRADED, "IRC", **overrides)


async def _read(pool: asyncpg.Pool, job: BacktestJob, cache: InputCache) -> Inputs:
    """`job`'s inputs through the cache, checked against a fresh read of the database as of the same time."""
    async with pool.acquire() as conn:
        got = await cached_inputs(conn, job, cache)
    async with pool.acquire() as conn:
        fresh = await load_inputs(conn, replace(job, data_as_of=got.as_of))
    assert got.instruments == fresh.instruments
    assert got.bars.keys() == fresh.bars.keys()
    for iid, frame in got.bars.items():
        assert frame.equals(fresh.bars[iid]), iid
        assert frame.attrs == fresh.bars[iid].attrs, iid
    assert got.benchmark is not None
    assert fresh.benchmark is not None
    assert got.benchmark.equals(fresh.benchmark)
    assert got.warnings == fresh.warnings
    return got


async def _import(conn: asyncpg.Connection, path: Path, instrument: str) -> None:
    plan = ImportPlan(path, instrument, "BAR_DAILY", SessionTable(calendar_for("NASDAQ")))
    await import_csv(conn, plan)


def _counted(source: str) -> float:
    return REGISTRY.get_sample_value("bts_backtest_inputs_total", {"source": source}) or 0.0


def _reused(later: Inputs, earlier: Inputs) -> bool:
    return all(later.bars[iid] is earlier.bars[iid] for iid in earlier.bars) and later.benchmark is earlier.benchmark


async def test_inputs_are_reused_while_their_data_is_unchanged_and_read_again_after_any_change(
    engine_pool: asyncpg.Pool, connect_as: ConnectAs, migrated: Endpoints, tmp_path: Path
) -> None:
    cache = InputCache()
    first = await _read(engine_pool, _job(), cache)
    reused_before = _counted("reused")
    other_parameters = _job(parameters={"fast_period": 10, "slow_period": 30})
    second = await _read(engine_pool, other_parameters, cache)
    assert _reused(second, first)
    assert _counted("reused") == reused_before + 1  # operators see it on /metrics
    assert second.as_of > first.as_of  # the run is as of its own time, which the reused data was current at

    # Another vendor's bars for one traded instrument, then for the benchmark.
    ingest = await connect_as("ingest")
    try:
        for symbol, seed in (("IRA", 0), ("IRC", 2)):
            write_daily_csv(tmp_path / f"{symbol}.csv", seed)
            other_vendor(tmp_path / f"{symbol}.csv", tmp_path / f"{symbol}-other.csv")
            async with ingest.transaction():
                await _import(ingest, tmp_path / f"{symbol}-other.csv", f"{symbol}.NASDAQ")
            before = second
            second = await _read(engine_pool, _job(), cache)
            assert not _reused(second, before), symbol
            assert _reused(await _read(engine_pool, _job(), cache), second), symbol
    finally:
        await ingest.close()
    assert not second.bars["IRA.NASDAQ"]["close"].equals(first.bars["IRA.NASDAQ"]["close"])
    assert second.bars["IRB.NASDAQ"]["close"].equals(first.bars["IRB.NASDAQ"]["close"])

    # A split on record for the other traded instrument: its bars before it are adjusted.
    admin = await asyncpg.connect(asyncpg_dsn(migrated.database_url))
    try:
        await admin.execute(
            "INSERT INTO api.corporate_actions (instrument_id, type, ex_date, ratio) "
            "VALUES ('IRB.NASDAQ', 'SPLIT', $1, 2)",
            date(2021, 6, 1),
        )
        split = await _read(engine_pool, _job(), cache)
        # An instrument's row changed (its margin requirement).
        await admin.execute("UPDATE api.instruments SET margin_requirement = 50 WHERE id = 'IRA.NASDAQ'")
        remargined = await _read(engine_pool, _job(), cache)
    finally:
        await admin.close()
    assert not _reused(split, second)
    assert split.bars["IRB.NASDAQ"].attrs["price_adjustment"]["splits"]
    assert (split.bars["IRB.NASDAQ"]["close"] != second.bars["IRB.NASDAQ"]["close"]).any()
    assert not _reused(remargined, split)
    assert remargined.instruments["IRA.NASDAQ"].margin_requirement == 50

    # A reproduction as of the first run's time reads the bars as they were then, not the kept ones.
    async with engine_pool.acquire() as conn:
        reproduced = await cached_inputs(conn, _job(data_as_of=first.as_of), cache)
    assert reproduced.as_of == first.as_of
    assert reproduced.bars["IRA.NASDAQ"]["close"].equals(first.bars["IRA.NASDAQ"]["close"])
    assert not reproduced.bars["IRA.NASDAQ"]["close"].equals(remargined.bars["IRA.NASDAQ"]["close"])


async def test_a_reuse_waits_for_an_import_stamped_before_it_and_then_reads_it(
    engine_pool: asyncpg.Pool, connect_as: ConnectAs, tmp_path: Path
) -> None:
    cache = InputCache()
    job = _job(start_date=date(2020, 3, 2))  # a period of its own: nothing kept from the other test
    kept = await _read(engine_pool, job, cache)
    write_daily_csv(tmp_path / "irb.csv", 1)
    changed = other_vendor(tmp_path / "irb.csv", tmp_path / "irb-other.csv")
    ingest = await connect_as("ingest")
    try:
        importing = ingest.transaction()
        await importing.start()
        await _import(ingest, tmp_path / "irb-other.csv", "IRB.NASDAQ")  # stamped and merged, not committed yet
        reading = asyncio.ensure_future(_read(engine_pool, job, cache))
        await asyncio.sleep(1.0)
        assert not reading.done()  # the import stamped before the run's time is still open: the run waits
        await importing.commit()
        after = await asyncio.wait_for(reading, 60)
    finally:
        await ingest.close()
    assert not _reused(after, kept)
    moved = after.bars["IRB.NASDAQ"]["close"] != kept.bars["IRB.NASDAQ"]["close"]
    assert int(moved.sum()) == changed


async def test_the_warm_up_reads_a_made_up_job_on_as_many_connections_as_a_first_backtest_uses(
    migrated: Endpoints,
) -> None:
    pool = await asyncpg.create_pool(role_url(migrated.database_url, "engine", "bts"), min_size=0, max_size=10)
    try:
        job = synthetic_job("NASDAQ")
        await warm_connections(pool, job)
        assert pool.get_size() == WARM_CONNECTIONS  # each opened, its reads prepared, and back in the pool
        assert pool.get_idle_size() == WARM_CONNECTIONS
    finally:
        await pool.close()
