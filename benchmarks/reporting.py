"""Benchmark: all three reports of a 6-year daily backtest with ~500 trades (goal: < 1 s, HTML < 6 MB).

    .venv/bin/python -m benchmarks.reporting

The backtest is a real Nautilus run on generated bars (3 symbols, 2019-2024). Measured in the same
run: our renderer (plotly.js inlined once, compact daily axes) against the naive baseline of plotly's
own standalone `Figure.to_html()` per chart (plotly.js inlined in every chart), which is what one
gets without care. Prints both times, the ratio and the file sizes.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from services.engine.domain.ledger import build_ledger, equity_curve
from services.engine.domain.metrics import performance_metrics
from services.engine.domain.runner import InstrumentSpec, RunInput, run_backtest
from services.reporting.domain.charts import all_charts
from services.reporting.domain.render import render_html, render_json, render_portfolio_csv, render_trades_csv
from services.reporting.domain.report_data import ReportData


def backtest_report_data() -> ReportData:
    rng = np.random.default_rng(11)
    sessions = pd.bdate_range("2019-01-02", "2024-12-31")
    index = sessions.tz_localize("UTC") + pd.Timedelta(hours=21)
    bars, specs = {}, []
    for symbol in ("AAA.NASDAQ", "BBB.NASDAQ", "CCC.NASDAQ"):
        close = np.round(100 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, len(index)))), 2)
        open_ = np.round(close * (1 + rng.normal(0, 0.002, len(index))), 2)
        bars[symbol] = pd.DataFrame(
            {
                "open": open_,
                "high": np.maximum(open_, close) + 0.3,
                "low": np.minimum(open_, close) - 0.3,
                "close": close,
                "volume": 1e6,
            },
            index=index,
        )
        specs.append(InstrumentSpec(symbol, "EQUITY", "USD", Decimal("0.01"), 1, Decimal(25)))
    params = {"lookback": 10, "entry_z": 1.1, "exit_z": 0.3, "allow_short": True}
    output = run_backtest(
        RunInput(
            "MEAN_REVERSION",
            params,
            specs,
            bars,
            "BAR_DAILY",
            Decimal(100_000),
            Decimal(5),
            "PER_SHARE",
            {"per_share": Decimal("0.005"), "minimum": Decimal("1.00")},
            1,
        )
    )
    closes = pd.DataFrame({k: v["close"] for k, v in bars.items()})
    ledger = build_ledger(output.fills, closes, Decimal(100_000), {s.id: s.margin_pct for s in specs})
    benchmark = pd.Series(300 * np.cumprod(1 + rng.normal(0.0004, 0.01, len(index))), index=index)
    closed = [t.pnl for t in ledger.closed_trades if t.pnl is not None]
    metrics = performance_metrics(equity_curve(ledger), 100_000, closed, benchmark)
    trades = pd.DataFrame([t.__dict__ for t in ledger.trades])
    daily = pd.DataFrame(
        [
            {
                "timestamp": s.timestamp,
                "cash_balance": s.cash_balance,
                "total_value": s.total_value,
                "margin_used": s.margin_used,
                "buying_power": s.buying_power,
                "positions": [{k: str(v) for k, v in h.__dict__.items()} for h in s.positions],
            }
            for s in ledger.snapshots
            if s.kind == "DAILY"
        ]
    )
    config = {
        "strategy_type": "MEAN_REVERSION",
        "parameters": params,
        "instrument_ids": list(bars),
        "start_date": "2019-01-02",
        "end_date": "2024-12-31",
        "initial_capital": "100000",
        "benchmark_symbol": "SPY",
    }
    return ReportData(
        uuid.uuid4(), "COMPLETED", config, metrics, trades, daily, {k: v["close"] for k, v in bars.items()}, benchmark
    )


def ours(data: ReportData) -> tuple[float, int]:
    start = time.perf_counter()
    now = datetime.now(UTC)
    html = render_html(data, now)
    files = [html, render_trades_csv(data), render_portfolio_csv(data), render_json(data, now)]
    return time.perf_counter() - start, len(files[0].encode())


def naive(data: ReportData) -> tuple[float, int]:
    start = time.perf_counter()
    pages = [fig.to_html() for _, fig in all_charts(data)]
    return time.perf_counter() - start, sum(len(p.encode()) for p in pages)


def main() -> None:
    data = backtest_report_data()
    ours(data)  # warm-up: template compilation and plotly's first-use costs are start-up, not per report
    runs = [ours(data) for _ in range(3)]
    baseline = [naive(data) for _ in range(3)]
    our_s, html_bytes = min(r[0] for r in runs), runs[0][1]
    base_s, base_bytes = min(r[0] for r in baseline), baseline[0][1]
    print(f"backtest: {len(data.daily)} days, {len(data.trades)} trades, 3 instruments")
    print(f"ours   HTML+CSV+JSON: {our_s:.3f} s, HTML {html_bytes / 1e6:.2f} MB   (goal < 1 s, < 6 MB)")
    print(f"naive  plotly to_html per chart: {base_s:.3f} s, {base_bytes / 1e6:.2f} MB")
    print(f"ratio ours/naive time: {our_s / base_s:.2f}, size: {html_bytes / base_bytes:.2f}")


if __name__ == "__main__":
    main()
