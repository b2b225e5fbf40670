"""The engine's use case on the real database: data loaded by the ingest code, results stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import asyncpg
import pytest
import pytest_asyncio

from services.engine.backtest_job import BacktestJob, run_job
from shared.db.urls import role_url
from shared.embedded.stack import Endpoints
from tests.integration.market import load_daily_symbols

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SYMBOLS = ("ENGA", "ENGB", "SPY")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine_pool(migrated: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[asyncpg.Pool]:
    await load_daily_symbols(migrated.database_url, tmp_path_factory.mktemp("bars"), SYMBOLS)
    pool = await asyncpg.create_pool(role_url(migrated.database_url, "engine", "bts"), min_size=1, max_size=4)
    yield pool
    await pool.close()


def _job(**overrides: object) -> BacktestJob:
    fields: dict[str, object] = {
        "backtest_id": uuid.uuid4(), "user_id": uuid.uuid4(), "configuration_id": uuid.uuid4(),
        "strategy_type": "SMA_CROSSOVER", "parameters": {"fast_period": 5, "slow_period": 20},
        "instrument_ids": ["ENGA.NASDAQ", "ENGB.NASDAQ"], "start_date": date(2020, 1, 1),
        "end_date": date(2021, 12, 31), "initial_capital": Decimal(100_000), "position_size_pct": Decimal(5),
        "commission_model": {"type": "PER_SHARE", "per_share": "0.005", "minimum": "1.00", "slippage_ticks": 1},
        "benchmark_symbol": "SPY",
    }  # fmt: skip
    fields.update(overrides)
    return BacktestJob(**fields)  # type: ignore[arg-type]


async def test_completed_run_stores_result_trades_and_snapshots(engine_pool: asyncpg.Pool) -> None:
    job = _job()
    outcome = await run_job(engine_pool, job)
    assert outcome.status == "COMPLETED", outcome.error_message
    async with engine_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM engine.backtest_results WHERE id = $1", job.backtest_id)
        assert row["status"] == "COMPLETED"
        metrics = json.loads(row["metrics"])
        assert set(metrics) == {"returns", "risk", "trading", "benchmark"}
        assert metrics["benchmark"]["beta"] is not None  # SPY is there
        assert row["trades_count"] == outcome.trades_count > 0
        assert metrics["trading"]["win_rate"] == pytest.approx(row["winning_trades"] / row["trades_count"])
        trades = await conn.fetchval(
            "SELECT count(*) FROM engine.trades WHERE backtest_result_id = $1", job.backtest_id
        )
        assert trades == outcome.trades_count
        daily = await conn.fetch(
            'SELECT "timestamp", total_value FROM engine.portfolio_snapshots WHERE backtest_result_id = $1 '
            "AND kind = 'DAILY' ORDER BY \"timestamp\"",
            job.backtest_id,
        )
        assert len(daily) == 505  # every session of 2020-2021
        assert daily[0]["timestamp"].hour == 21  # stamped at the session close (16:00 New York)
    again = await run_job(engine_pool, job)  # a redelivered request: nothing is done twice
    assert again.status == "SKIPPED"


async def test_same_request_same_trades(engine_pool: asyncpg.Pool) -> None:
    first, second = _job(), _job()
    await run_job(engine_pool, first)
    await run_job(engine_pool, second)
    query = (
        "SELECT instrument_id, entry_time, entry_price, exit_time, exit_price, quantity, side, commission, slippage, "
        "pnl, pnl_pct FROM engine.trades WHERE backtest_result_id = $1 ORDER BY entry_time, instrument_id"
    )
    async with engine_pool.acquire() as conn:
        assert await conn.fetch(query, first.backtest_id) == await conn.fetch(query, second.backtest_id)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"instrument_ids": ["NOPE.NASDAQ"]}, "unknown instrument(s): NOPE.NASDAQ"),
        ({"start_date": date(2019, 1, 1), "end_date": date(2019, 12, 31)}, "at least 30 are required"),
        ({"strategy_type": "MOMENTUM", "parameters": {"lookback": 10, "threshold": 5.0}}, "no signal"),
    ],
)
async def test_requests_that_cannot_run_fail_with_the_reason(
    engine_pool: asyncpg.Pool, overrides: dict[str, object], message: str
) -> None:
    job = _job(**overrides)
    outcome = await run_job(engine_pool, job)
    assert outcome.status == "FAILED"
    assert message in (outcome.error_message or "")
    async with engine_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, error_message FROM engine.backtest_results WHERE id = $1",
                                  job.backtest_id)  # fmt: skip
    assert row["status"] == "FAILED"
    assert message in row["error_message"]


async def test_missing_benchmark_is_said_not_invented(engine_pool: asyncpg.Pool) -> None:
    outcome = await run_job(engine_pool, _job(benchmark_symbol="QQQ"))
    assert outcome.status == "COMPLETED"
    assert outcome.metrics is not None
    assert outcome.metrics["benchmark"] == {"benchmark_return": None, "alpha": None, "beta": None}
    assert any("benchmark QQQ" in w for w in outcome.warnings)
