"""The engine's use case on the real database: data loaded by the ingest code, results stored."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import empyrical
import numpy as np
import pandas as pd
import pytest
import pytest_asyncio

from services.engine import repository, run_progress
from services.engine.backtest_job import run_job
from services.engine.domain.strategies.base import SignalStrategy
from services.engine.job import BacktestJob
from shared.devstack.stack import Endpoints
from shared.domain.calendars import calendar_for
from shared.platform.db.urls import asyncpg_dsn, role_url
from tests.integration.market import (
    FX_PAIR,
    backtest_job,
    falling_at_the_cap_closes,
    load_daily_symbols,
    load_minute_fx,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SYMBOLS = ("ENGA", "ENGB", "SPY")
FX_BARS = 80_000  # one-minute EUR/USD bars: a run of several seconds, long enough to report progress
FX_LAST_BAR = pd.Timestamp("2022-01-03", tz="UTC")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine_pool(migrated: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[asyncpg.Pool]:
    await load_daily_symbols(migrated.database_url, tmp_path_factory.mktemp("bars"), SYMBOLS)
    global FX_LAST_BAR
    FX_LAST_BAR = await load_minute_fx(migrated.database_url, tmp_path_factory.mktemp("fx"), FX_BARS)
    pool = await asyncpg.create_pool(role_url(migrated.database_url, "engine", "bts"), min_size=1, max_size=4)
    yield pool
    await pool.close()


def _job(**overrides: object) -> BacktestJob:
    return backtest_job(["ENGA.NASDAQ", "ENGB.NASDAQ"], "SPY", **overrides)


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
        assert trades == outcome.trades_count + outcome.open_trades  # closed round trips + still open
        assert (row["open_trades"], row["open_pnl"]) == (outcome.open_trades, outcome.open_pnl)
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
        row = await conn.fetchrow(
            "SELECT status, error_message FROM engine.backtest_results WHERE id = $1", job.backtest_id
        )
    assert row["status"] == "FAILED"
    assert message in row["error_message"]


async def test_an_unknown_benchmark_fails_the_run_naming_it(engine_pool: asyncpg.Pool) -> None:
    outcome = await run_job(engine_pool, _job(benchmark_symbol="QQQ"))
    assert outcome.status == "FAILED"
    assert outcome.error_message == (
        "benchmark_symbol QQQ: no instrument has the id or symbol QQQ (register it: POST /instruments)"
    )


async def _stored(conn: asyncpg.Connection, backtest_id: uuid.UUID) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    row = await conn.fetchrow("SELECT * FROM engine.backtest_results WHERE id = $1", backtest_id)
    trades = await conn.fetch("SELECT * FROM engine.trades WHERE backtest_result_id = $1", backtest_id)
    return row, list(trades)


async def test_metrics_equal_empyrical_on_the_stored_daily_values_and_benchmark_closes(
    engine_pool: asyncpg.Pool, migrated: Endpoints
) -> None:
    job = _job(
        strategy_type="MEAN_REVERSION", parameters={"lookback": 15, "entry_z": 1.5, "exit_z": 0.2, "allow_short": True}
    )
    assert (await run_job(engine_pool, job)).status == "COMPLETED"
    admin = await asyncpg.connect(asyncpg_dsn(migrated.database_url))
    try:
        row, _ = await _stored(admin, job.backtest_id)
        daily = await admin.fetch(
            'SELECT "timestamp", total_value FROM engine.portfolio_snapshots WHERE backtest_result_id = $1 '
            "AND kind = 'DAILY' ORDER BY \"timestamp\"",
            job.backtest_id,
        )
        spy = await admin.fetch(
            "SELECT \"timestamp\", close FROM ingest.market_data WHERE instrument_id = 'SPY.NASDAQ' "
            "AND timeframe = 'BAR_DAILY' ORDER BY \"timestamp\""
        )
    finally:
        await admin.close()
    metrics = json.loads(row["metrics"])
    # The equity curve: the initial capital, then every session's closing portfolio value.
    values = [float(job.initial_capital)] + [float(r["total_value"]) for r in daily]
    days = [pd.Timestamp(daily[0]["timestamp"]).tz_convert(None).normalize() - pd.Timedelta(days=1)]
    days += [pd.Timestamp(r["timestamp"]).tz_convert(None).normalize() for r in daily]
    equity = pd.Series(values, index=pd.DatetimeIndex(days))
    returns = equity.pct_change().dropna()
    total = values[-1] / values[0] - 1
    assert metrics["returns"]["total_return"] == pytest.approx(total, rel=1e-12)
    assert metrics["returns"]["cagr"] == pytest.approx((1 + total) ** (365.25 / (days[-1] - days[0]).days) - 1)
    assert metrics["returns"]["annualized_return"] == pytest.approx(empyrical.annual_return(returns))
    assert metrics["risk"]["sharpe_ratio"] == pytest.approx(empyrical.sharpe_ratio(returns, annualization=252))
    assert metrics["risk"]["sortino_ratio"] == pytest.approx(empyrical.sortino_ratio(returns, annualization=252))
    assert metrics["risk"]["volatility"] == pytest.approx(np.std(returns, ddof=1) * np.sqrt(252))
    peak = equity.cummax()
    assert metrics["risk"]["max_drawdown"] == pytest.approx(((equity - peak) / peak).min())
    assert metrics["risk"]["max_drawdown"] < 0
    bench = pd.Series(
        [float(r["close"]) for r in spy],
        index=pd.DatetimeIndex([pd.Timestamp(r["timestamp"]).tz_convert(None) for r in spy]),
    )
    both = pd.concat({"s": equity, "b": bench}, axis=1).dropna()
    assert len(both) == len(daily)  # every session of the run has a benchmark close
    pair = both.pct_change().dropna()
    beta = np.cov(pair["s"], pair["b"], ddof=1)[0, 1] / np.var(pair["b"], ddof=1)
    alpha = ((pair["s"] - beta * pair["b"]).mean() + 1) ** 252 - 1
    assert metrics["benchmark"]["beta"] == pytest.approx(beta, rel=1e-9)
    assert metrics["benchmark"]["alpha"] == pytest.approx(alpha, rel=1e-9)
    assert metrics["benchmark"]["benchmark_return"] == pytest.approx(both["b"].iloc[-1] / both["b"].iloc[0] - 1)


async def test_trade_statistics_equal_those_recomputed_from_the_stored_trades(engine_pool: asyncpg.Pool) -> None:
    job = _job(strategy_type="MEAN_REVERSION", parameters={"lookback": 10, "entry_z": 1.0, "exit_z": 0.3})
    assert (await run_job(engine_pool, job)).status == "COMPLETED"
    async with engine_pool.acquire() as conn:
        row, trades = await _stored(conn, job.backtest_id)
    trading = json.loads(row["metrics"])["trading"]
    closed = [t["pnl"] for t in trades if t["exit_time"] is not None]
    for t in trades:  # pnl is net of the commission of both fills
        if t["exit_time"] is not None:
            gross = (t["exit_price"] - t["entry_price"]) * t["quantity"] * (1 if t["side"] == "LONG" else -1)
            assert t["pnl"] == gross - t["commission"]
    wins = [p for p in closed if p > 0]
    losses = [p for p in closed if p < 0]
    assert wins
    assert losses
    assert row["trades_count"] == len(closed)  # closed round trips; open ones are counted apart
    assert row["open_trades"] == len(trades) - len(closed)
    assert (row["winning_trades"], row["losing_trades"]) == (len(wins), len(losses))
    assert trading["win_rate"] == pytest.approx(len(wins) / len(closed), rel=1e-12)
    assert trading["avg_win"] == pytest.approx(float(sum(wins) / len(wins)), rel=1e-12)
    assert trading["avg_loss"] == pytest.approx(float(sum(losses) / len(losses)), rel=1e-12)
    assert trading["profit_factor"] == pytest.approx(float(sum(wins) / -sum(losses)), rel=1e-12)
    assert trading["expectancy"] == pytest.approx(float(sum(closed) / len(closed)), rel=1e-12)


@pytest.mark.parametrize(("sessions", "runs"), [(29, False), (30, True)])
async def test_thirty_trading_days_are_required_before_running(
    engine_pool: asyncpg.Pool, sessions: int, runs: bool
) -> None:
    last = calendar_for("NASDAQ").sessions_in_range("2020-01-01", "2020-12-31")[sessions - 1].date()
    job = _job(end_date=last, parameters={"fast_period": 2, "slow_period": 4})
    outcome = await run_job(engine_pool, job)
    async with engine_pool.acquire() as conn:
        snapshots = await conn.fetchval(
            "SELECT count(*) FROM engine.portfolio_snapshots WHERE backtest_result_id = $1", job.backtest_id
        )
    if runs:
        assert outcome.status == "COMPLETED", outcome.error_message
        assert snapshots > 0
    else:
        assert outcome.status == "FAILED"
        assert outcome.error_message == (
            f"ENGA.NASDAQ has 29 trading day(s) of BAR_DAILY data between 2020-01-01 and {last}; "
            "at least 30 are required"
        )
        assert snapshots == 0


REPORT_DELAY = pd.Timedelta(seconds=2)  # from a sample to its report: the progress is stored first


async def test_a_long_run_reports_progress_and_a_sane_estimate(
    engine_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a fast machine the whole run fits between two samples, so the run is held at two bars until the
    # sampler has reported from there: a value from inside the run, then one with an estimate.
    monkeypatch.setattr(run_progress, "SAMPLE_EVERY_S", 0.1)
    inside_seen, estimate_seen = threading.Event(), threading.Event()
    holds = {1_000: inside_seen, 40_000: estimate_seen}
    on_bar = SignalStrategy.on_bar

    def held_on_bar(strategy: SignalStrategy, bar: object) -> None:
        on_bar(strategy, bar)
        hold = holds.get(strategy.bars_seen)
        if hold is not None:
            hold.wait(timeout=30)

    monkeypatch.setattr(SignalStrategy, "on_bar", held_on_bar)
    fx_costs = {"type": "PERCENT", "percent": "0.002", "minimum": "2.00", "slippage_ticks": 1}
    job = _job(
        instrument_ids=[FX_PAIR],
        timeframe="BAR_1MIN",
        start_date=date(2022, 1, 3),
        end_date=FX_LAST_BAR.date(),
        parameters={"fast_period": 10, "slow_period": 30},
        commission_model=fx_costs,
    )
    seen: list[tuple[float, datetime | None, datetime, float]] = []

    async def on_progress(pct: float, eta: datetime | None) -> None:
        received = datetime.now(UTC)
        async with engine_pool.acquire() as conn:
            stored = await conn.fetchval(
                "SELECT progress_pct FROM engine.backtest_results WHERE id = $1", job.backtest_id
            )
        seen.append((pct, eta, received, float(stored)))
        if 10.0 < pct < 90.0:
            inside_seen.set()
            if eta is not None:
                estimate_seen.set()

    outcome = await run_job(engine_pool, job, on_progress)
    assert outcome.status == "COMPLETED", outcome.error_message
    finished = datetime.now(UTC)
    values = [pct for pct, *_ in seen]
    assert values == sorted(values)  # never goes back
    assert values[0] == 0.0
    assert [stored for *_, stored in seen] == values  # each value was stored before it was published
    assert inside_seen.is_set(), values  # a value from inside the run itself
    assert estimate_seen.is_set(), values  # and one with an estimate
    estimates = [(eta, at) for _, eta, at, _ in seen if eta is not None]
    assert estimates
    # In the future when given, and not absurdly far. The estimate is made when the run is sampled and reaches us
    # after the value is stored: near the run's end it may have passed by that write (0.2 s once, under load).
    for eta, at in estimates:
        assert at - REPORT_DELAY <= eta <= at + (finished - at) * 20 + pd.Timedelta(seconds=60)
    async with engine_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, progress_pct FROM engine.backtest_results WHERE id = $1", job.backtest_id
        )
    assert (row["status"], float(row["progress_pct"])) == ("COMPLETED", 100.0)


async def test_a_book_at_the_margin_cap_that_falls_completes_with_a_margin_call(
    engine_pool: asyncpg.Pool, migrated: Endpoints, tmp_path: Path
) -> None:
    """36 stocks at 100% margin, 10% positions: the 3x cap binds after 30, and a 4% fall puts the book over
    it. The run used to end FAILED with "internal error: CheckViolation"; now a margin call closes positions
    and every stored snapshot satisfies the database's portfolio_snapshots_margin_within_leverage."""
    closes = {f"MRG{i:02d}": falling_at_the_cap_closes(i) for i in range(36)}
    await load_daily_symbols(
        migrated.database_url,
        tmp_path,
        tuple(closes),
        start="2020-01-01",
        end="2020-06-30",
        closes=closes,
        margin_requirement=100,
    )
    job = _job(
        instrument_ids=[f"{s}.NASDAQ" for s in closes],
        start_date=date(2020, 1, 1),
        end_date=date(2020, 6, 30),
        position_size_pct=Decimal(10),
    )
    outcome = await run_job(engine_pool, job)
    assert outcome.status == "COMPLETED", outcome.error_message
    calls = [w for w in outcome.warnings if w.startswith("margin call")]
    assert len(calls) == 1
    assert calls[0].startswith("margin call: 1 time(s), 2 position(s) closed")
    fall = calendar_for("NASDAQ").sessions_in_range("2020-01-01", "2020-06-30")[36]
    assert f"first on {fall:%Y-%m-%d}" in calls[0]
    async with engine_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, warnings FROM engine.backtest_results WHERE id = $1", job.backtest_id)
        snapshots = await conn.fetch(
            'SELECT "timestamp", kind, total_value, margin_used, leverage FROM engine.portfolio_snapshots '
            'WHERE backtest_result_id = $1 ORDER BY "timestamp", seq',
            job.backtest_id,
        )
        closed = await conn.fetch(
            "SELECT instrument_id FROM engine.trades WHERE backtest_result_id = $1 AND exit_time::date = $2",
            job.backtest_id,
            fall.date(),
        )
    assert row["status"] == "COMPLETED"
    assert calls[0] in json.loads(row["warnings"])
    assert len([s for s in snapshots if s["kind"] == "DAILY"]) == 80  # every session
    assert {s["kind"] for s in snapshots} == {"TRADE", "DAILY"}
    assert all(s["margin_used"] <= s["total_value"] * s["leverage"] for s in snapshots)
    ratio = max(s["margin_used"] / s["total_value"] for s in snapshots)
    assert ratio > Decimal("2.99")  # the book did sit at the cap
    assert len(closed) == 2


async def test_a_loss_beyond_the_account_fails_the_run_and_stores_no_snapshot(
    engine_pool: asyncpg.Pool, migrated: Endpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A book at the cap, a year of slow rise, then a 50% fall: the account value goes below zero, which no
    margin call can undo. The year of snapshots already stored while the ledger was being built goes with the
    rolled-back transaction."""
    closes = {}
    for i in range(36):
        entry = falling_at_the_cap_closes(i, days=45, fall_day=44, fall=0.0)
        year = np.round(entry[-1] * 1.0005 ** np.arange(1, 261), 2)
        closes[f"CRS{i:02d}"] = np.concatenate([entry, year, np.full(10, round(year[-1] / 2, 2))])
    await load_daily_symbols(
        migrated.database_url,
        tmp_path,
        tuple(closes),
        start="2020-01-01",
        end="2021-12-31",
        closes=closes,
        margin_requirement=100,
    )
    copied: list[int] = []
    copy = repository.copy_snapshot_records

    async def counted(conn: asyncpg.Connection, batches: AsyncIterable[list[tuple[object, ...]]]) -> int:
        copied.append(await copy(conn, batches))
        return copied[-1]

    monkeypatch.setattr(repository, "copy_snapshot_records", counted)
    job = _job(
        instrument_ids=[f"{s}.NASDAQ" for s in closes],
        start_date=date(2020, 1, 1),
        end_date=date(2021, 12, 31),
        position_size_pct=Decimal(10),
    )
    outcome = await run_job(engine_pool, job)
    fall = calendar_for("NASDAQ").sessions_in_range("2020-01-01", "2021-12-31")[305]  # its close: 16:00 EDT
    assert outcome.status == "FAILED"
    assert (outcome.error_message or "").startswith(f"on {fall:%Y-%m-%d} 20:00 UTC the account value fell below zero")
    assert copied
    assert copied[0] >= repository.SNAPSHOT_BATCH  # a batch was stored before the ledger got there
    async with engine_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, error_message FROM engine.backtest_results WHERE id = $1", job.backtest_id
        )
        stored = await conn.fetchval(
            "SELECT count(*) FROM engine.portfolio_snapshots WHERE backtest_result_id = $1", job.backtest_id
        )
    assert (row["status"], row["error_message"]) == ("FAILED", outcome.error_message)
    assert stored == 0


async def test_a_warm_up_feeds_the_indicators_and_trades_only_inside_the_period(engine_pool: asyncpg.Pool) -> None:
    """A walk-forward out-of-sample window: a 200-day SMA on 12 months, warmed on the 12 months before."""
    window = {"start_date": date(2021, 1, 1), "end_date": date(2021, 12, 31)}
    sma_200 = {"fast_period": 20, "slow_period": 200}
    warm = _job(**window, parameters=sma_200, warmup_start=date(2020, 1, 1))
    cold = _job(**window, parameters=sma_200)
    outcome = await run_job(engine_pool, warm)
    cold_outcome = await run_job(engine_pool, cold)
    assert outcome.status == "COMPLETED", outcome.error_message
    async with engine_pool.acquire() as conn:
        entries = await conn.fetch(
            "SELECT entry_time FROM engine.trades WHERE backtest_result_id = $1 ORDER BY entry_time", warm.backtest_id
        )
        days = await conn.fetch(
            "SELECT \"timestamp\" FROM engine.portfolio_snapshots WHERE backtest_result_id = $1 AND kind = 'DAILY' "
            'ORDER BY "timestamp"',
            warm.backtest_id,
        )
        manifest = json.loads(
            await conn.fetchval("SELECT manifest FROM engine.backtest_results WHERE id = $1", warm.backtest_id)
        )
    assert entries, "the warmed 200-day SMA trades in its 12-month window"
    assert entries[0]["entry_time"].date() >= date(2021, 1, 4)  # nothing traded on a warm-up bar
    assert days[0]["timestamp"].date() == date(2021, 1, 4)  # the result covers the period only
    assert len(days) == 252  # the sessions of 2021
    assert manifest["configuration"]["warmup_start"] == "2020-01-01"
    # without the warm-up the indicator is warm for the last ~50 sessions only: fewer trades, or none
    cold_trades = cold_outcome.trades_count + cold_outcome.open_trades if cold_outcome.status == "COMPLETED" else 0
    assert outcome.trades_count + outcome.open_trades > cold_trades


async def test_the_thirty_days_rule_counts_the_period_not_the_warm_up(engine_pool: asyncpg.Pool) -> None:
    last = calendar_for("NASDAQ").sessions_in_range("2021-01-01", "2021-12-31")[28].date()
    job = _job(start_date=date(2021, 1, 1), end_date=last, warmup_start=date(2020, 1, 1))
    outcome = await run_job(engine_pool, job)
    assert outcome.status == "FAILED"
    assert outcome.error_message is not None
    assert "has 29 trading day(s)" in outcome.error_message
