"""Every COMPLETED result gets its three reports, whatever its shape: no trade, only open positions, no
benchmark (a run of the rules that found no entry still has an equity curve to show)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pandas as pd
import pytest

from services.reporting.domain.render import render_html, render_json, render_portfolio_csv, render_trades_csv
from services.reporting.domain.report_data import ReportData

DAYS = pd.bdate_range("2020-01-02", periods=60)
NOW = datetime(2024, 1, 1, tzinfo=UTC)
FLAT_METRICS: dict[str, dict[str, float | None]] = {
    "returns": {"total_return": 0.0, "cagr": 0.0, "annualized_return": 0.0},
    "risk": {"max_drawdown": 0.0, "sharpe_ratio": None, "sortino_ratio": None, "volatility": 0.0},
    "trading": {"win_rate": 0.0, "avg_win": None, "avg_loss": None, "profit_factor": None, "expectancy": None},
    "benchmark": {"benchmark_return": None, "alpha": None, "beta": None},
}
NO_TRADE = "no trade: the position size rounds to 0 shares: 0.1% of 1,000.00 is 1.00"


def _daily(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": DAYS,
            "cash_balance": values,
            "total_value": values,
            "margin_used": 0.0,
            "buying_power": values,
            "positions": [[] for _ in values],
        }
    )


def _open_trade() -> dict[str, Any]:
    return {
        "instrument_id": "AAPL.NASDAQ",
        "side": "LONG",
        "entry_time": DAYS[5],
        "entry_price": Decimal(150),
        "exit_time": None,
        "exit_price": None,
        "quantity": 3,
        "commission": Decimal(1),
        "slippage": Decimal("0.03"),
        "pnl": None,
        "pnl_pct": None,
    }


def _data(trades: pd.DataFrame, benchmark: pd.Series | None, warnings: list[str]) -> ReportData:
    closes = pd.Series([150.0 + i for i in range(len(DAYS))], index=DAYS)
    return ReportData(
        backtest_id=uuid4(),
        status="COMPLETED",
        configuration={"strategy_type": "MOMENTUM", "instrument_ids": ["AAPL.NASDAQ"]},
        metrics=FLAT_METRICS,
        trades=trades,
        daily=_daily([1000.0] * len(DAYS)),
        prices={"AAPL.NASDAQ": closes},
        benchmark=benchmark,
        warnings=warnings,
    )


@pytest.mark.parametrize(
    ("trades", "benchmark", "warnings"),
    [
        (pd.DataFrame(), None, [NO_TRADE]),  # no trade, no benchmark: what the database gives for no rows
        (pd.DataFrame([_open_trade()]), None, []),  # only an open position
        (pd.DataFrame(), pd.Series(300.0, index=DAYS), [NO_TRADE]),
    ],
    ids=["no-trade", "open-only", "no-trade-with-benchmark"],
)
def test_every_completed_shape_renders_html_csv_and_json(
    trades: pd.DataFrame, benchmark: pd.Series | None, warnings: list[str]
) -> None:
    data = _data(trades, benchmark, warnings)
    html = render_html(data, NOW)
    assert "chart-equity" in html
    for warning in warnings:
        assert warning in html
    header, *rows = render_trades_csv(data).splitlines()
    assert header.startswith("instrument_id,side,entry_time")
    assert len(rows) == len(trades)
    assert len(render_portfolio_csv(data).splitlines()) == len(DAYS) + 1
    document = json.loads(render_json(data, NOW))
    closed = int(trades["exit_time"].notna().sum()) if len(trades) else 0
    assert document["trades_count"] == closed  # closed round trips; open positions apart
    assert document["open_trades"] == len(trades) - closed
    assert document["warnings"] == warnings
