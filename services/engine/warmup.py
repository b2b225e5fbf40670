"""The engine's warm-up: after ready, one tiny synthetic backtest through the engine's own `compute` (NautilusTrader,
the ledger, the metrics, the manifest) and the exchange calendars of the registered instruments, in a worker
thread and without any database write; then the synthetic job's inputs read (nothing is found) on the pool's
connections a backtest uses. So the first real backtest costs what the later ones do.

The synthetic run trades a made-up instrument on the default benchmark's exchange (the calendar most runs need:
SPY is listed on ARCA, which shares its sessions with NASDAQ and NYSE), so a fresh stack that has no instrument
yet is warmed up too.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from services.engine.handlers import BACKTEST_STARTED, use_case_loaded
from services.engine.job import BacktestJob
from shared.contracts.models.commission import CommissionModel
from shared.domain.benchmark import DEFAULT_BENCHMARK
from shared.domain.calendars import UnknownExchangeError, calendar_for
from shared.platform.db.reads import InstrumentRow, instrument_exchanges

if TYPE_CHECKING:
    import pandas as pd

    from services.engine.domain.outcome import BacktestOutcome

log = structlog.get_logger()

DEFAULT_BENCHMARK_EXCHANGE = "ARCA"  # where the default benchmark (SPY) is listed
WARM_UP_PERIOD = (date(2024, 7, 1), date(2024, 12, 31))  # ~125 sessions: a few crossovers of SMA 5/20
WARM_CONNECTIONS = 3  # the pool's connections a first backtest uses (its session, its progress, the relay's)


async def warm_up(pool: asyncpg.Pool) -> bool:
    """Load the use case, build the calendars of the registered instruments' exchanges, run the synthetic
    backtest: the work in worker threads (the event loop keeps serving and heart-beating). Once a real backtest
    has started, the warm-up stops at its next step: that run warms up the rest, competing with nothing.
    Returns whether no backtest started meanwhile (see shared.platform.runtime.warmup)."""
    await use_case_loaded()
    if _came_first():
        return False
    async with pool.acquire() as conn:
        exchanges = await instrument_exchanges(conn)
    first = await asyncio.to_thread(build_calendars, [DEFAULT_BENCHMARK_EXCHANGE, *exchanges])
    if _came_first():
        return False
    outcome = await asyncio.to_thread(run_synthetic, *first)
    log.info("warm-up backtest done", status=outcome.status, trades=outcome.trades_count, calendars=len(exchanges) + 1)
    if _came_first():
        return False
    await warm_connections(pool, synthetic_job(first[0]))
    return not BACKTEST_STARTED.is_set()


async def warm_connections(pool: asyncpg.Pool, job: BacktestJob, count: int = WARM_CONNECTIONS) -> None:
    """Read `job`'s inputs (a made-up instrument: nothing is found) on `count` of the pool's connections at once:
    a connection's first reads of market data cost ~25 ms more than its later ones (their statements are
    prepared and planned over every monthly partition), and a backtest reads on one connection and reports its
    progress on another."""
    from services.engine.bars import read_spans
    from services.engine.data_version import read_data_version
    from services.engine.repository import database_now

    async def read_once() -> None:
        async with pool.acquire() as conn, conn.transaction():
            version = await read_data_version(conn, job)
            await read_spans(conn, list(version.spans), await database_now(conn))

    await asyncio.gather(*(read_once() for _ in range(count)))


def _came_first() -> bool:
    if BACKTEST_STARTED.is_set():
        log.info("warm-up cut short: a backtest came first")
        return True
    return False


def exercise(exchanges: Iterable[str]) -> BacktestOutcome:
    """Build the calendars of `exchanges` (the first one trades the synthetic run), then run it."""
    return run_synthetic(*build_calendars(exchanges))


def build_calendars(exchanges: Iterable[str]) -> tuple[str, Any]:
    """The calendars of `exchanges` (cached by `calendar_for`); the first exchange that has one, and its calendar."""
    first = None
    for exchange in exchanges:
        try:
            calendar = calendar_for(exchange)
        except UnknownExchangeError:  # registered before its exchange lost its calendar: a run says so
            continue
        first = first or (exchange, calendar)
    if first is None:
        raise UnknownExchangeError(DEFAULT_BENCHMARK_EXCHANGE)
    return first


def run_synthetic(exchange: str, calendar: Any) -> BacktestOutcome:
    """The synthetic backtest on `exchange` through the engine's `compute` (no database)."""
    from services.engine.backtest_job import compute  # loaded by use_case_loaded

    job, instruments, bars, benchmark = synthetic_run(exchange, calendar)
    outcome, _ = compute(job, instruments, bars, benchmark)
    return outcome


def synthetic_job(exchange: str) -> BacktestJob:
    """The warm-up's job: SMA 5/20 on one made-up instrument of `exchange` over WARM_UP_PERIOD."""
    start, end = WARM_UP_PERIOD
    return BacktestJob(
        backtest_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        configuration_id=uuid.uuid4(),
        strategy_type="SMA_CROSSOVER",
        parameters={"fast_period": 5, "slow_period": 20},
        instrument_ids=[f"WARMUP.{exchange}"],
        start_date=start,
        end_date=end,
        initial_capital=Decimal(100_000),
        position_size_pct=Decimal(10),
        commission_model=CommissionModel(),
        benchmark_symbol=DEFAULT_BENCHMARK,
    )


def synthetic_run(
    exchange: str, calendar: Any
) -> tuple[BacktestJob, dict[str, InstrumentRow], dict[str, pd.DataFrame], pd.Series]:
    """A job on one made-up instrument whose closes swing on a 30-session wave (so SMA 5/20 trades), bars
    stamped at the exchange's closes as the engine stamps real ones, and a benchmark on the same sessions."""
    import numpy as np
    import pandas as pd

    from services.engine.bars import stamp_at_close

    job = synthetic_job(exchange)
    sessions = pd.DatetimeIndex(calendar.sessions_in_range(job.start_date.isoformat(), job.end_date.isoformat()))
    wave = 100 + 10 * np.sin(np.arange(len(sessions)) * 2 * math.pi / 30)
    close = np.round(wave, 2)
    frame = pd.DataFrame(
        {"open": close, "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 100_000.0},
        index=sessions.tz_localize("UTC"),
    )
    iid = job.instrument_ids[0]
    instrument = InstrumentRow(
        id=iid,
        symbol="WARMUP",
        exchange=exchange,
        asset_class="EQUITY",
        currency="USD",
        tick_size=Decimal("0.01"),
        lot_size=1,
        trading_hours={},
        margin_requirement=Decimal(25),
    )
    benchmark = pd.Series(
        np.linspace(400.0, 440.0, len(sessions)), index=sessions, name=f"{DEFAULT_BENCHMARK}.{exchange}"
    )
    return job, {iid: instrument}, {iid: stamp_at_close(frame, "BAR_DAILY", calendar)}, benchmark
