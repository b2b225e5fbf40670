"""The engine's run-time data checks and benchmark resolution on the real database (bars loaded by the ingest
code): a series with a stale tail, a 5-session hole and a 2:1 split in raw prices; two listings of a symbol."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import asyncpg
import pandas as pd
import pytest
import pytest_asyncio

from services.engine.backtest_job import run_job
from shared.devstack.stack import Endpoints
from shared.platform.db.urls import role_url
from tests.integration.market import backtest_job, daily_frame, load_daily_listing

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

# 2022-2023: the other modules' SPY has bars in 2020-2021 only, so the default benchmark finds none here.
START, END = date(2022, 1, 1), date(2023, 12, 29)
HOLE = ("2022-10-10", "2022-10-14")  # five sessions
SPLIT_DAY = "2023-03-01"  # a 2:1 split, prices left raw
LAST_BAR = "2023-06-30"  # the data ends half a year before END


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine_pool(migrated: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[asyncpg.Pool]:
    folder = tmp_path_factory.mktemp("checks")
    raw = daily_frame("NASDAQ", 3, end=LAST_BAR)
    raw = raw.drop(pd.bdate_range(*HOLE))
    raw.loc[raw.index >= pd.Timestamp(SPLIT_DAY), ["open", "close"]] /= 2
    await load_daily_listing(migrated.database_url, folder, "CHKA", "NASDAQ", raw)
    await load_daily_listing(migrated.database_url, folder, "CHKB", "NASDAQ", daily_frame("NASDAQ", 4))
    for seed, exchange in enumerate(("NASDAQ", "NYSE")):  # one symbol listed twice, both with bars
        await load_daily_listing(migrated.database_url, folder, "CHKX", exchange, daily_frame(exchange, 10 + seed))
    pool = await asyncpg.create_pool(role_url(migrated.database_url, "engine", "bts"), min_size=1, max_size=2)
    yield pool
    await pool.close()


async def test_stale_tail_hole_and_split_are_warned_on_the_result(engine_pool: asyncpg.Pool) -> None:
    job = backtest_job(["CHKA.NASDAQ", "CHKB.NASDAQ"], "SPY", start_date=START, end_date=END)
    outcome = await run_job(engine_pool, job)
    assert outcome.status == "COMPLETED", outcome.error_message
    async with engine_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM engine.backtest_results WHERE id = $1", job.backtest_id)
    warnings = json.loads(row["warnings"])
    assert warnings == outcome.warnings
    by_kind = {w.split()[0] + " " + w.split()[1].rstrip(":"): w for w in warnings}
    ends = by_kind["COVERAGE CHKA.NASDAQ"]
    assert ends.startswith(f"COVERAGE CHKA.NASDAQ: data ends {LAST_BAR}, before end_date {END}")
    assert "marked at its last known close" in ends
    assert by_kind["GAP CHKA.NASDAQ"] == (
        f"GAP CHKA.NASDAQ: 5 session(s) of XNAS without a bar, in 1 range(s): {HOLE[0]}..{HOLE[1]}"
    )
    assert f"{SPLIT_DAY} (2:1: close " in by_kind["SPLIT_SUSPECT CHKA.NASDAQ"]
    assert "no corporate action on record" in by_kind["SPLIT_SUSPECT CHKA.NASDAQ"]
    assert not any("CHKB" in w for w in warnings)  # complete data: nothing to say
    # the default benchmark without data in the period: null metrics and a warning, not a failure
    assert any(w.startswith("benchmark SPY: ") and w.endswith("benchmark metrics are null") for w in warnings)
    assert row["benchmark_instrument_id"] is None


async def test_trade_counts_are_closed_round_trips_and_open_pnl_balances_the_book(engine_pool: asyncpg.Pool) -> None:
    job = backtest_job(["CHKB.NASDAQ", "CHKX.NYSE"], "CHKB.NASDAQ", start_date=START, end_date=END)
    assert (await run_job(engine_pool, job)).status == "COMPLETED"
    async with engine_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM engine.backtest_results WHERE id = $1", job.backtest_id)
        trades = await conn.fetch(
            "SELECT exit_time, pnl FROM engine.trades WHERE backtest_result_id = $1", job.backtest_id
        )
        final = await conn.fetchval(
            "SELECT total_value FROM engine.portfolio_snapshots WHERE backtest_result_id = $1 "
            'ORDER BY "timestamp" DESC, seq DESC LIMIT 1',
            job.backtest_id,
        )
    closed = [t["pnl"] for t in trades if t["exit_time"] is not None]
    assert row["trades_count"] == len(closed) > 0
    assert row["open_trades"] == len(trades) - len(closed)
    assert json.loads(row["metrics"])["trading"]["win_rate"] == pytest.approx(
        sum(1 for p in closed if p > 0) / len(closed), rel=1e-12
    )
    # every cent of the result is either realised by a closed trade or marked on an open one
    assert final - job.initial_capital == sum(closed, Decimal(0)) + row["open_pnl"]
    # the benchmark named by its instrument id is recorded as resolved
    assert row["benchmark_instrument_id"] == "CHKB.NASDAQ"
    manifest = json.loads(row["manifest"])
    assert manifest["benchmark"]["symbol"] == manifest["benchmark"]["instrument_id"] == "CHKB.NASDAQ"


async def test_a_symbol_listed_twice_with_data_fails_naming_both(engine_pool: asyncpg.Pool) -> None:
    job = backtest_job(["CHKB.NASDAQ"], "CHKX", start_date=START, end_date=END)
    outcome = await run_job(engine_pool, job)
    assert outcome.status == "FAILED"
    assert outcome.error_message == (
        "benchmark_symbol CHKX: ambiguous: 2 instruments with symbol CHKX have daily bars in the period "
        "(CHKX.NASDAQ, CHKX.NYSE); name one by its instrument id"
    )
    resolved = await run_job(engine_pool, backtest_job(["CHKB.NASDAQ"], "CHKX.NYSE", start_date=START, end_date=END))
    assert resolved.status == "COMPLETED", resolved.error_message
    assert resolved.series is not None
    assert resolved.series["benchmark"]["instrument_id"] == "CHKX.NYSE"
