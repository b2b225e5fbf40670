"""Benchmark: the engine's overhead around a bare Nautilus run, measured in one process, in one run.

    .venv/bin/python -m benchmarks.engine_overhead                      # both cases, full size
    .venv/bin/python -m benchmarks.engine_overhead --case daily
    .venv/bin/python -m benchmarks.engine_overhead --case minute --bars 100000   # reduced size

Cases (SMA 10/30 crossover):
  daily:  3 instruments x 6 years of daily bars (2019-2024); goal: at most 0.25 s added.
  minute: 1 instrument x 1,000,000 one-minute bars; goal: at most 1.25x the bare run.
          1,000,000 minutes do not fit in 2019-2024's regular US equity hours (~589k), so the
          instrument is EUR/USD on IDEALPRO, which trades around the clock on weekdays (the 24/5
          calendar): 1,440 bars a session, 1M bars = 694 sessions from 2022-01-03 (to 2024-08).
          The bars go through the ingest code (CSV import, 24/5 session check) like any import.
          The period's daily snapshot partitions are created before measuring (a one-off cost of a
          fresh database on plain PostgreSQL: one partition per simulated day).
Measures
  bare: a Nautilus BacktestEngine run of the same strategy on the same bars, in process, bars
        already in memory (wrangle, add, run, fills report): `run_backtest` of the engine's input
        with Nautilus' defaults, i.e. with its post-run analysis; also without it (as the engine
        runs it: its metrics are its own), printed beside;
  full: the engine's handler from the consumed `backtest.requested` to the stored COMPLETED result
        and its backtest.completed outbox row (read bars from PostgreSQL, checks, run with progress
        events to the broker, trades/snapshots/metrics, COPY, commit),
and prints both, the ratio, the time added and the peak RSS of each (the kernel's high-water mark,
reset between the two with /proc/self/clear_refs).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from services.engine.bars import day_bounds
from services.engine.domain.runner import run_backtest
from services.engine.handlers import BacktestHandler, job_from_request
from services.engine.inputs import load_inputs, run_input
from services.engine.job import BacktestJob
from shared.contracts import topics
from shared.contracts.events import BacktestRequested, StrategySpec, make_event
from shared.contracts.models import BacktestConfiguration, StrategyType
from shared.devstack.stack import EmbeddedStack
from shared.platform.db.timeseries import ensure_partitions
from shared.platform.db.urls import role_url
from shared.platform.kafka.admin import ensure_topics
from shared.platform.kafka.producer import EventPublisher
from shared.platform.runtime.service import ServiceContext
from shared.platform.settings import Settings
from tests.integration.market import FX_PAIR, load_daily_symbols, load_minute_fx, register_owners

DAILY_SYMBOLS = ("BNA", "BNB", "BNC", "SPY")
SMA = {"fast_period": 10, "slow_period": 30}


@dataclass
class Step:
    """One measured step: wall seconds (best of its repeats), this process's CPU seconds per repeat, RSS."""

    seconds: float = float("inf")
    cpu_s: float = 0.0
    rss_before_mb: float = 0.0
    peak_mb: float = 0.0


@dataclass(frozen=True)
class Figures:
    case: str
    bars: int
    trades: int
    bare: Step
    bare_no_analysis: Step
    full: Step


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    """Reset the high-water mark of RSS to the current RSS (Linux 4.0+)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Measured:
    """Times one repeat of a step; the step's peak RSS is its high-water mark since the step began."""

    def __init__(self, step: Step, repeats: int = 1) -> None:
        self.step, self.repeats = step, repeats

    def __enter__(self) -> None:
        if self.step.seconds == float("inf"):  # the first repeat: RSS baseline of the step
            gc.collect()
            _reset_peak()
            self.step.rss_before_mb = _status_mb("VmRSS")
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.step.seconds = min(self.step.seconds, time.perf_counter() - self.wall)
        self.step.cpu_s += (time.process_time() - self.cpu) / self.repeats
        self.step.peak_mb = max(self.step.peak_mb, _status_mb("VmHWM"))


def _request(instrument_ids: list[str], start: date, end: date, timeframe: str, **config: Any) -> BacktestRequested:
    configuration = BacktestConfiguration(
        strategy_id=uuid.uuid4(), instrument_ids=instrument_ids, start_date=start, end_date=end, **config
    )
    return BacktestRequested(
        backtest_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        configuration=configuration,
        timeframe=timeframe,
        strategy=StrategySpec(strategy_type=StrategyType.SMA_CROSSOVER, parameters=SMA),
    )


class Runner:
    """The engine's real handler on a pool and a publisher, as the service wires it."""

    def __init__(self, admin_url: str, bootstrap: str) -> None:
        self.admin_url, self.bootstrap = admin_url, bootstrap

    async def __aenter__(self) -> Runner:
        await ensure_topics(self.bootstrap, [topics.BACKTEST_PROGRESS])
        self.pool = await asyncpg.create_pool(role_url(self.admin_url, "engine", "bts"), min_size=1, max_size=10)
        self.publisher = EventPublisher(self.bootstrap)
        await self.publisher.start()
        ctx = ServiceContext(name="engine", settings=Settings(), pool=self.pool, kafka_bootstrap=self.bootstrap)
        self.handler = BacktestHandler(ctx, self.publisher)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.publisher.stop()
        await self.pool.close()

    async def full(self, request: BacktestRequested) -> float:
        """Seconds from the consumed request to the committed COMPLETED result and outbox row."""
        envelope = make_event(topics.BACKTEST_REQUESTED, request, source="bench", subject=str(request.backtest_id))
        await register_owners(self.admin_url, [request])  # the engine checks the user and their strategy
        start = time.perf_counter()
        await self.handler(envelope)
        seconds = time.perf_counter() - start
        async with self.pool.acquire() as conn:
            status, error = await conn.fetchrow(
                "SELECT status, error_message FROM engine.backtest_results WHERE id = $1", request.backtest_id
            )
            outbox = await conn.fetchval(
                "SELECT count(*) FROM engine.outbox WHERE topic = $1 AND payload -> 'data' ->> 'backtest_id' = $2",
                topics.BACKTEST_COMPLETED,
                str(request.backtest_id),
            )
        if status != "COMPLETED" or outbox < 1:
            raise RuntimeError(f"the benchmark's backtest did not complete: {status} {error} (outbox rows: {outbox})")
        return seconds

    async def bare_input(self, job: BacktestJob) -> Any:
        async with self.pool.acquire() as conn:
            instruments, bars, _, _, _ = await load_inputs(conn, job)
        # a bare run prepares its Nautilus bars every time, as a user's loop of fresh engines would
        return replace(run_input(job, instruments, bars), bars_shared=False)

    async def trades(self, request: BacktestRequested) -> int:
        async with self.pool.acquire() as conn:
            return int(
                await conn.fetchval(
                    "SELECT trades_count FROM engine.backtest_results WHERE id = $1", request.backtest_id
                )
            )


async def daily_case(runner: Runner, folder: Path, repeats: int) -> Figures:
    await load_daily_symbols(runner.admin_url, folder, DAILY_SYMBOLS, start="2019-01-01", end="2024-12-31")

    def request() -> BacktestRequested:
        return _request(
            [f"{s}.NASDAQ" for s in DAILY_SYMBOLS[:3]],
            date(2019, 1, 1),
            date(2024, 12, 31),
            "BAR_DAILY",
            position_size_pct=Decimal(5),
        )

    bare_input = await runner.bare_input(job_from_request(request()))
    run_backtest(bare_input)  # warm-up: imports and first-use costs
    await runner.full(request())
    bare, bare_plain, full = Step(), Step(), Step()
    for _ in range(repeats):
        with Measured(bare, repeats):
            run_backtest(bare_input, nautilus_analysis=True)
    for _ in range(repeats):
        with Measured(bare_plain, repeats):
            run_backtest(bare_input)
    for _ in range(repeats):
        last = request()
        with Measured(full, repeats):
            await runner.full(last)
    return Figures(
        "daily", sum(len(b) for b in bare_input.bars.values()), await runner.trades(last), bare, bare_plain, full
    )


async def minute_case(runner: Runner, folder: Path, bars: int) -> Figures:
    last_bar = await load_minute_fx(runner.admin_url, folder, bars)
    await load_daily_symbols(runner.admin_url, folder, ("SPY",), start="2019-01-01", end="2024-12-31")

    def request() -> BacktestRequested:
        return _request(
            [FX_PAIR],
            date(2022, 1, 3),
            last_bar.date(),
            "BAR_1MIN",
            position_size_pct=Decimal(5),
            commission_model={"type": "PERCENT", "percent": "0.002", "minimum": "2.00"},
        )

    # Warm-up on a small slice: imports and first-use costs, outside both measurements.
    warm = _request([FX_PAIR], date(2022, 1, 3), date(2022, 2, 28), "BAR_1MIN", position_size_pct=Decimal(5))
    await runner.full(warm)
    # The period's daily snapshot partitions exist beforehand, as they do once any backtest covered those
    # days: on plain PostgreSQL the first run over a fresh period creates one partition per day (~30 ms
    # each here), a one-off cost of the database, not of the run.
    async with runner.pool.acquire() as conn, conn.transaction():
        lo, hi = day_bounds(date(2022, 1, 3), last_bar.date())
        await ensure_partitions(conn, "engine.portfolio_snapshots", lo, hi)
    bare_input = await runner.bare_input(job_from_request(request()))
    fed = sum(len(b) for b in bare_input.bars.values())
    bare, bare_plain, full = Step(), Step(), Step()
    with Measured(bare):
        run_backtest(bare_input, nautilus_analysis=True)
    with Measured(bare_plain):
        run_backtest(bare_input)
    del bare_input
    measured_request = request()
    with Measured(full):
        await runner.full(measured_request)
    return Figures("minute", fed, await runner.trades(measured_request), bare, bare_plain, full)


async def measure(case: str, bars: int, repeats: int, admin_url: str, bootstrap: str, folder: Path) -> list[Figures]:
    async with Runner(admin_url, bootstrap) as runner:
        figures = []
        if case in ("daily", "all"):
            figures.append(await daily_case(runner, folder, repeats))
        if case in ("minute", "all"):
            figures.append(await minute_case(runner, folder, bars))
        return figures


def report(figures: Figures, resettable: bool) -> None:
    if figures.case == "daily":
        print(
            f"case: 3 instruments x 6 years daily ({figures.bars:,} bars), SMA 10/30, {figures.trades} trades "
            "(best of the repeats)"
        )
    else:
        print(f"case: EUR/USD 24/5, {figures.bars:,} one-minute bars, SMA 10/30, {figures.trades:,} trades")
    rows = [
        ("bare Nautilus run (same strategy, bars in memory, Nautilus defaults)", figures.bare),
        ("bare Nautilus run without its post-run analysis (as the engine runs it)", figures.bare_no_analysis),
        ("engine: request consumed -> stored COMPLETED + outbox row", figures.full),
    ]
    for label, step in rows:
        print(
            f"  {label}: {step.seconds:.3f} s (CPU of this process {step.cpu_s:.3f} s; RSS {step.rss_before_mb:.0f} "
            f"MB before, peak {step.peak_mb:.0f} MB)"
        )
    bare, plain, full = figures.bare.seconds, figures.bare_no_analysis.seconds, figures.full.seconds
    goal = "goal <= 0.25 s added" if figures.case == "daily" else "goal <= 1.25x"
    print(f"  added: {full - bare:.3f} s; ratio {full / bare:.3f}  ({goal})")
    print(f"  against the run without analysis: added {full - plain:.3f} s; ratio {full / plain:.3f}")
    if not resettable:
        print("  (peak RSS could not be reset here: each peak is the process's peak so far)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=("daily", "minute", "all"), default="all")
    parser.add_argument("--bars", type=int, default=1_000_000, help="one-minute bars of the minute case")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the daily case (best is kept)")
    args = parser.parse_args()
    resettable = _reset_peak()
    with tempfile.TemporaryDirectory(prefix="bts-bench-") as tmp:
        settings = Settings(state_dir=Path(tmp) / "state")
        with EmbeddedStack(settings) as endpoints:
            from bts.migrations import migrate_all

            migrate_all(endpoints.database_url, settings.db_role_password)
            figures = asyncio.run(
                measure(
                    args.case, args.bars, args.repeats, endpoints.database_url, endpoints.kafka_bootstrap, Path(tmp)
                )
            )
    for item in figures:
        report(item, resettable)


if __name__ == "__main__":
    main()
