"""Reporting's warm-up: after ready, the reports of one synthetic completed backtest rendered through the
service's own `render_files` (plotly and its figures, the jinja2 template, empyrical's tear sheet, the CSVs and
JSON) into one folder of the reports folder, in a worker thread, with no database write; so the first real report
costs what the later ones do. The folder is emptied before and after: a warm-up killed half-way leaves only it, and
the next start reuses it (a temporary folder per start would pile up in /tmp).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from services.reporting.handlers import jobs_loaded
from shared.contracts.models.metrics import PerformanceMetrics

if TYPE_CHECKING:
    from services.reporting.domain.report_data import ReportData

SESSIONS = 60
INSTRUMENT = "WARMUP.ARCA"
FOLDER = ".warm-up"  # in the reports folder; no result's folder is named so (they are UUIDs)


async def warm_up(reports_dir: Path) -> None:
    """Load the report jobs, then render the synthetic report, in worker threads (the event loop keeps serving and
    heart-beating)."""
    await jobs_loaded()
    await asyncio.to_thread(exercise, reports_dir / FOLDER)


def exercise(folder: Path) -> list[str]:
    """Render every report of `synthetic_report()` into `folder`, emptied before and after; the types written."""
    from services.reporting.report_job import render_files

    shutil.rmtree(folder, ignore_errors=True)
    try:
        written = render_files(synthetic_report(), folder, datetime.now(UTC))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return [report_type for report_type, *_ in written]


def synthetic_report() -> ReportData:
    """A completed run on one made-up instrument: a rising, wavy equity curve, one closed and one open trade, a
    benchmark; every metric set (validated as the data model's metrics)."""
    import numpy as np
    import pandas as pd

    from services.reporting.domain.report_data import ReportData

    days = pd.bdate_range("2024-01-02", periods=SESSIONS)
    values = 100_000 * (1 + 0.001 * np.arange(SESSIONS) + 0.01 * np.sin(np.arange(SESSIONS) / 4))
    daily = pd.DataFrame(
        {
            "timestamp": days,
            "cash_balance": values,
            "total_value": values,
            "margin_used": 0.0,
            "buying_power": values,
            "positions": [[] for _ in range(SESSIONS)],
        }
    )
    opened = {"instrument_id": INSTRUMENT, "side": "LONG", "quantity": 10, "slippage": Decimal("0.01")}
    closed = {
        **opened,
        "entry_time": days[5],
        "entry_price": Decimal(100),
        "exit_time": days[20],
        "exit_price": Decimal(105),
        "commission": Decimal(2),
        "pnl": Decimal(48),
        "pnl_pct": Decimal("4.8"),
    }
    still_open = {**opened, "entry_time": days[40], "entry_price": Decimal(102), "commission": Decimal(1)}
    trades = pd.DataFrame([closed, still_open])
    metrics = PerformanceMetrics.model_validate(
        {
            "returns": {"total_return": 0.06, "cagr": 0.27, "annualized_return": 0.27},
            "risk": {"max_drawdown": -0.02, "sharpe_ratio": 2.1, "sortino_ratio": 3.0, "volatility": 0.12},
            "trading": {"win_rate": 1.0, "avg_win": 48.0, "avg_loss": None, "profit_factor": None, "expectancy": 48.0},
            "benchmark": {"benchmark_return": 0.03, "alpha": 0.1, "beta": 0.5},
        }
    )
    return ReportData(
        backtest_id=uuid.uuid4(),
        status="COMPLETED",
        configuration={"strategy_type": "SMA_CROSSOVER", "instrument_ids": [INSTRUMENT]},
        metrics=metrics.model_dump(),
        trades=trades,
        daily=daily,
        prices={INSTRUMENT: pd.Series(100 + np.sin(np.arange(SESSIONS) / 4), index=days)},
        benchmark=pd.Series(np.linspace(400.0, 412.0, SESSIONS), index=days),
    )
