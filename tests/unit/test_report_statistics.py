"""The reports show what the result says: closed and open trades counted apart, the resolved benchmark, the
run-time warnings and the rounding note (a real 6-year run on generated bars, rendered without a database)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd

from benchmarks.reporting import backtest_report_data
from services.reporting.domain.render import render_html, render_json

GAP = "GAP AAA.NASDAQ: 5 session(s) of XNAS without a bar, in 1 range(s): 2020-10-12..2020-10-16"


def test_reports_count_closed_and_open_trades_apart_and_show_warnings_and_rounding() -> None:
    data = backtest_report_data()
    open_trade = data.trades.iloc[[-1]].assign(exit_time=pd.NaT, exit_price=None, pnl=None, pnl_pct=None)
    trades = pd.concat([data.trades, open_trade], ignore_index=True)  # one more position, still open at the end
    data = dataclasses.replace(
        data, trades=trades, open_pnl=Decimal("-12.34"), warnings=[GAP], benchmark_instrument_id="SPY.ARCA"
    )
    closed = int(trades["exit_time"].notna().sum())
    assert (data.trades_count, data.open_trades) == (closed, len(trades) - closed)
    assert data.open_trades >= 1

    now = datetime(2025, 1, 2, tzinfo=UTC)
    document = json.loads(render_json(data, now))
    assert document["trades_count"] == closed
    assert document["open_trades"] == data.open_trades
    assert document["open_pnl"] == "-12.34"
    assert document["benchmark_instrument_id"] == "SPY.ARCA"
    assert document["warnings"] == [GAP]

    html = render_html(data, now)
    assert GAP in html
    assert f"<td>Closed trades</td><td>{closed}</td>" in html
    assert f"<td>Open at the end</td><td>{data.open_trades} (marked P&amp;L -12.34 USD)</td>" in html
    assert "<dd>SPY (SPY.ARCA)</dd>" in html
    assert "commissions are rounded to the cent, half up" in html
