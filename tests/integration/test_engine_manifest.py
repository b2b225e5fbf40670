"""Run manifests on the real database: stored with every result, stable for the same request on the same
data, and the data digest of exactly the instrument whose bar changed moves when one bar changes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from services.engine.backtest_job import run_job
from services.engine.job import BacktestJob
from shared.contracts.models.manifest import RunManifest
from shared.devstack.stack import Endpoints
from tests.integration.market import backtest_job, engine_pool_on

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SYMBOLS = ("MANA", "MANB")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine_pool(migrated: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[asyncpg.Pool]:
    async with engine_pool_on(migrated.database_url, tmp_path_factory.mktemp("bars"), SYMBOLS) as pool:
        yield pool


def _job(**overrides: object) -> BacktestJob:
    return backtest_job(["MANA.NASDAQ", "MANB.NASDAQ"], "MANB", **overrides)


async def _manifest(pool: asyncpg.Pool, job: BacktestJob) -> RunManifest:
    async with pool.acquire() as conn:
        stored: Any = await conn.fetchval("SELECT manifest FROM engine.backtest_results WHERE id = $1", job.backtest_id)
    return RunManifest.model_validate(json.loads(stored))


async def test_same_request_same_data_same_manifest_and_one_changed_bar_changes_its_digest(
    engine_pool: asyncpg.Pool, connect_as: Callable[[str], Awaitable[asyncpg.Connection]]
) -> None:
    first, second = _job(), _job()
    assert (await run_job(engine_pool, first)).status == "COMPLETED"
    assert (await run_job(engine_pool, second)).status == "COMPLETED"
    a, b = await _manifest(engine_pool, first), await _manifest(engine_pool, second)
    # ids are not part of the manifest: the same run, the same digests; only the data's as-of moves on
    assert a.data_as_of is not None
    assert b.data_as_of is not None
    assert a.data_as_of < b.data_as_of
    assert a.model_copy(update={"data_as_of": None}) == b.model_copy(update={"data_as_of": None})
    assert set(a.data) == {"MANA.NASDAQ", "MANB.NASDAQ"}
    assert a.data["MANA.NASDAQ"].bars == 505
    assert a.benchmark is not None
    assert a.benchmark.symbol == "MANB"
    assert a.trades_count is not None
    assert a.trades_count > 0
    async with engine_pool.acquire() as conn:
        trades = await conn.fetchval(
            "SELECT count(*) FROM engine.trades WHERE backtest_result_id = $1", first.backtest_id
        )
    assert a.trades_count == trades

    ingest = await connect_as("ingest")  # the owner of market_data changes one close by one cent
    try:
        changed = await ingest.execute(
            "UPDATE ingest.market_data SET close = close + 0.01 WHERE instrument_id = 'MANA.NASDAQ' "
            "AND timeframe = 'BAR_DAILY' AND \"timestamp\" = '2021-06-15' AND high >= close + 0.01"
        )
    finally:
        await ingest.close()
    assert changed == "UPDATE 1"
    third = _job()
    assert (await run_job(engine_pool, third)).status == "COMPLETED"
    c = await _manifest(engine_pool, third)
    assert c.data["MANA.NASDAQ"].sha256 != a.data["MANA.NASDAQ"].sha256
    assert c.data["MANB.NASDAQ"] == a.data["MANB.NASDAQ"]
    assert c.configuration_sha256 == a.configuration_sha256


async def test_an_unregistered_type_fails_with_the_reason_and_a_manifest(engine_pool: asyncpg.Pool) -> None:
    job = _job(strategy_type="NOT_INSTALLED", parameters={"window": 3})
    outcome = await run_job(engine_pool, job)
    assert outcome.status == "FAILED"
    assert (outcome.error_message or "").startswith("strategy type 'NOT_INSTALLED' is not registered; registered: ")
    manifest = await _manifest(engine_pool, job)
    assert (manifest.trades_sha256, manifest.data, manifest.strategy_type) == (None, {}, "NOT_INSTALLED")


async def test_parameters_outside_the_schema_fail_before_running(engine_pool: asyncpg.Pool) -> None:
    outcome = await run_job(engine_pool, _job(parameters={"fast_period": 0, "slow_period": 20, "speed": 2}))
    assert outcome.status == "FAILED"
    assert outcome.error_message == (
        "parameters do not match SMA_CROSSOVER: parameters.fast_period: Input should be greater than or equal to 1; "
        "parameters.speed: unknown parameter for SMA_CROSSOVER; expected: allow_short, fast_period, slow_period"
    )
