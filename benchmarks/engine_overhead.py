"""Benchmark: the engine's overhead around a bare Nautilus run (daily case), measured in one run.

    .venv/bin/python -m benchmarks.engine_overhead

Case: 3 instruments x 6 years of daily bars (2019-2024), SMA 10/30 crossover. Measures
  bare:  the Nautilus BacktestEngine run of the same strategy on the same bars, in process (the
         bars already in memory: wrangle, add, run, fills report);
  full:  the engine's use case from a request to the stored COMPLETED result with its outbox event
         (read bars from PostgreSQL, re-stamp, checks, run, trades/snapshots/metrics, COPY, commit),
and prints both, the time added, and the peak RSS (goal: at most 0.25 s added).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks.common import migrated_database
from services.engine.backtest_job import BacktestJob, _compute, _load, run_job
from services.engine.domain.runner import InstrumentSpec, RunInput, run_backtest
from shared.db.urls import role_url
from tests.integration.market import load_daily_symbols

SYMBOLS = ("BNA", "BNB", "BNC", "SPY")


def _job() -> BacktestJob:
    return BacktestJob(
        backtest_id=uuid.uuid4(), user_id=uuid.uuid4(), configuration_id=uuid.uuid4(), strategy_type="SMA_CROSSOVER",
        parameters={"fast_period": 10, "slow_period": 30}, instrument_ids=[f"{s}.NASDAQ" for s in SYMBOLS[:3]],
        start_date=date(2019, 1, 1), end_date=date(2024, 12, 31), initial_capital=Decimal(100_000),
        position_size_pct=Decimal(5), commission_model={"type": "PER_SHARE", "per_share": "0.005", "minimum": "1"},
        benchmark_symbol="SPY",
    )  # fmt: skip


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(url: str, folder: Path) -> dict[str, Any]:
    await load_daily_symbols(url, folder, SYMBOLS, start="2019-01-01", end="2024-12-31")
    pool = await asyncpg.create_pool(role_url(url, "engine", "bts"), min_size=1, max_size=4)
    try:
        job = _job()
        async with pool.acquire() as conn:
            instruments, bars, benchmark, _ = await _load(conn, job)
        _compute(job, instruments, bars, benchmark)  # warm-up: imports and first-use costs
        await run_job(pool, _job())
        bare, full = [], []
        for _ in range(5):
            specs = [InstrumentSpec(i, "EQUITY", "USD", Decimal("0.01"), 1, Decimal(25)) for i in job.instrument_ids]
            request = RunInput(job.strategy_type, job.parameters, specs, bars, "BAR_DAILY", job.initial_capital,
                            job.position_size_pct, "PER_SHARE",
                            {"per_share": Decimal("0.005"), "minimum": Decimal("1")}, 1)  # fmt: skip
            start = time.perf_counter()
            run_backtest(request)
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            outcome = await run_job(pool, _job())
            full.append(time.perf_counter() - start)
            assert outcome.status == "COMPLETED", outcome.error_message
        return {"bare": min(bare), "full": min(full), "bars": sum(len(b) for b in bars.values()),
                "trades": outcome.trades_count}  # fmt: skip
    finally:
        await pool.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bts-bench-") as tmp, migrated_database() as url:
        result = asyncio.run(measure(url, Path(tmp)))
    print(f"case: 3 instruments x 6 years daily ({result['bars']:,} bars), SMA 10/30, {result['trades']} trades")
    print(f"bare Nautilus run (same strategy, bars in memory): {result['bare']:.3f} s")
    print(f"engine request -> stored COMPLETED + outbox event: {result['full']:.3f} s")
    print(
        f"added: {result['full'] - result['bare']:.3f} s  (goal <= 0.25 s); ratio {result['full'] / result['bare']:.2f}"
    )
    print(f"peak RSS: {_peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
