"""Benchmark: what a run manifest costs next to the Nautilus run it describes, measured in one run.

    .venv/bin/python -m benchmarks.manifest_overhead            # 1,000,000 one-minute bars (full size)
    .venv/bin/python -m benchmarks.manifest_overhead --small    # 100,000 bars (a shared machine)

Case: one instrument of one-minute bars (prices as Decimal, as read from PostgreSQL), SMA 20/100.
  bare:      the Nautilus BacktestEngine run of the strategy on the bars (wrangle, add, run, fills);
  manifest:  the manifest the engine stores with the result (digests of every bar, the
             configuration, the parameters and the trades; versions),
and prints both and their ratio (no goal is set; the engine computes it once per run).
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from services.engine.domain.ledger import build_ledger
from services.engine.domain.runner import InstrumentSpec, RunInput, run_backtest
from services.engine.job import BacktestJob
from services.engine.manifest import run_manifest

INSTRUMENT = "BMK.NASDAQ"


def _bars(count: int) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    index = pd.date_range("2019-01-02 14:31", periods=count, freq="min", tz="UTC")
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.0008, count))), 2)
    open_ = np.round(close * (1 + rng.normal(0, 0.0002, count)), 2)
    decimals = {
        name: [Decimal(f"{v:.2f}") for v in values]
        for name, values in (
            ("open", open_),
            ("high", np.maximum(open_, close) + 0.02),
            ("low", np.minimum(open_, close) - 0.02),
            ("close", close),
        )
    }
    return pd.DataFrame({**decimals, "volume": 1_000}, index=index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="100,000 bars instead of 1,000,000")
    count = 100_000 if parser.parse_args().small else 1_000_000
    bars = {INSTRUMENT: _bars(count)}
    parameters = {"fast_period": 20, "slow_period": 100}
    spec = InstrumentSpec(INSTRUMENT, "EQUITY", "USD", Decimal("0.01"), 1, Decimal(25))
    request = RunInput(
        "SMA_CROSSOVER",
        parameters,
        [spec],
        bars,
        "BAR_1MIN",
        Decimal(100_000),
        Decimal(5),
        "PER_SHARE",
        {"per_share": Decimal("0.005"), "minimum": Decimal("1")},
        1,
    )
    start = time.perf_counter()
    output = run_backtest(request)
    bare = time.perf_counter() - start
    closes = pd.DataFrame({INSTRUMENT: bars[INSTRUMENT]["close"]})
    daily = closes.groupby(closes.index.normalize()).tail(1)
    trades = build_ledger(output.fills, daily, Decimal(100_000), {INSTRUMENT: Decimal(25)}).trades
    job = BacktestJob(
        backtest_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        configuration_id=uuid.uuid4(),
        strategy_type="SMA_CROSSOVER",
        parameters=parameters,
        instrument_ids=[INSTRUMENT],
        start_date=date(2019, 1, 1),
        end_date=date(2024, 12, 31),
        initial_capital=Decimal(100_000),
        position_size_pct=Decimal(5),
        commission_model={"type": "PER_SHARE", "per_share": "0.005", "minimum": "1"},
        benchmark_symbol="SPY",
        timeframe="BAR_1MIN",
    )
    run_manifest(job)  # warm-up: versions and the git commit are read once per process
    start = time.perf_counter()
    run_manifest(job, bars, None, trades)
    manifest = time.perf_counter() - start
    print(f"case: {count:,} one-minute bars of one instrument, SMA 20/100, {len(trades)} trades")
    print(f"bare Nautilus run: {bare:.2f} s")
    print(f"run manifest:      {manifest:.2f} s  ({manifest / count * 1e6:.2f} us per bar)")
    print(f"ratio manifest / bare run: {manifest / bare:.3f}")


if __name__ == "__main__":
    main()
