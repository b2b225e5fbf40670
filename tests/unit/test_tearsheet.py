"""The tear sheet's figures (services.reporting.domain.tearsheet), cross-checked against quantstats on a real
ledger of a NautilusTrader run, and the report's small fixes (tile colours, "-0.0%", rolling Sharpe while flat)."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from datetime import UTC, datetime
from functools import cache
from typing import Any
from uuid import uuid4

import numpy as np
import pandas as pd
import pytest

from benchmarks.reporting import backtest_report_data
from services.reporting.domain.charts import rolling_risk
from services.reporting.domain.render import render_html, render_json
from services.reporting.domain.report_data import ReportData
from services.reporting.domain.tearsheet import benchmark_returns, daily_returns, extended_metrics
from shared.presentation.metrics import percent_text

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import quantstats as qs

NOW = datetime(2025, 1, 2, tzinfo=UTC)


@cache
def _data() -> ReportData:
    return backtest_report_data()  # three instruments, ~6 years, a benchmark, closed and open trades


@cache
def _extended() -> dict[str, Any]:
    return extended_metrics(_data())


def _returns() -> tuple[pd.Series, pd.Series]:
    returns = daily_returns(_data())
    bench = benchmark_returns(_data(), returns.index)
    assert bench is not None
    return returns, bench


def test_ratios_agree_with_quantstats() -> None:
    returns, bench = _returns()
    ratios = _extended()["ratios"]
    assert ratios["calmar_ratio"] == pytest.approx(qs.stats.calmar(returns, prepare_returns=False), rel=1e-9)
    # quantstats' information ratio is per day; the report's is annualised (x sqrt 252), like its Sharpe
    daily_ir = qs.stats.information_ratio(returns, bench, prepare_returns=False)
    assert ratios["information_ratio"] == pytest.approx(daily_ir * math.sqrt(252), rel=1e-9)
    assert ratios["skew"] == pytest.approx(qs.stats.skew(returns, prepare_returns=False), rel=1e-9)
    assert ratios["kurtosis"] == pytest.approx(qs.stats.kurtosis(returns, prepare_returns=False), rel=1e-9)
    # quantstats' VaR is parametric (normal); the report's is historical: its 5% quantile, and CVaR the mean
    # beyond it, which is quantstats' historical CVaR
    assert ratios["daily_var_95"] == pytest.approx(returns.quantile(0.05), rel=1e-9)
    cvar = qs.stats.conditional_value_at_risk(returns, method="historical", prepare_returns=False)
    assert ratios["daily_cvar_95"] == pytest.approx(cvar, rel=1e-6)
    assert ratios["daily_cvar_95"] < ratios["daily_var_95"] < 0
    total, bench_total = (1 + returns).prod() - 1, (1 + bench).prod() - 1
    assert ratios["excess_return"] == pytest.approx(total - bench_total, rel=1e-9)


def test_the_worst_drawdowns_agree_with_quantstats() -> None:
    returns, _ = _returns()
    theirs = qs.stats.drawdown_details(qs.stats.to_drawdown_series(returns)).sort_values("max drawdown").head(5)
    mine = _extended()["worst_drawdowns"]
    assert len(mine) == 5
    assert [d["depth"] for d in mine] == pytest.approx([v / 100 for v in theirs["max drawdown"]], abs=1e-6)
    assert [d["trough"] for d in mine] == list(theirs["valley"])
    days = [d.strftime("%Y-%m-%d") for d in returns.index]
    for drawdown, start, end in zip(mine, theirs["start"], theirs["end"], strict=True):
        # quantstats names the first and last day under water; the report the peak before and the day back at it
        assert days[days.index(drawdown["peak"]) + 1] == start
        if drawdown["recovery"] is None:
            assert end == days[-1]
        else:
            assert days[days.index(drawdown["recovery"]) - 1] == end
    assert [d["depth"] for d in mine] == sorted(d["depth"] for d in mine)


def test_yearly_returns_agree_with_quantstats() -> None:
    returns, bench = _returns()
    mine = _extended()["yearly_returns"]
    theirs = qs.utils.group_returns(returns, returns.index.year, compounded=True)
    theirs_bench = qs.utils.group_returns(bench, bench.index.year, compounded=True)
    assert [r["year"] for r in mine] == list(theirs.index)
    assert [r["strategy"] for r in mine] == pytest.approx(list(theirs), rel=1e-9)
    assert [r["benchmark"] for r in mine] == pytest.approx(list(theirs_bench), rel=1e-9)
    assert all(r["excess"] == pytest.approx(r["strategy"] - r["benchmark"]) for r in mine)


def test_costs_turnover_holding_and_instruments_add_up_to_the_trades() -> None:
    trades, extended = _data().trades, _extended()
    assert extended["costs"]["commission"] == pytest.approx(float(trades["commission"].astype(float).sum()))
    assert extended["costs"]["slippage"] == pytest.approx(float(trades["slippage"].astype(float).sum()))
    by = extended["by_instrument"]
    assert {r["instrument_id"] for r in by} == set(trades["instrument_id"])
    closed = trades.dropna(subset=["exit_time"])
    assert sum(r["pnl"] for r in by) == pytest.approx(float(closed["pnl"].astype(float).sum()), abs=0.05)
    assert sum(r["trades"] for r in by) == len(closed)
    assert sum(r["open"] for r in by) == len(trades) - len(closed)
    held = (pd.to_datetime(closed["exit_time"]) - pd.to_datetime(closed["entry_time"])).dt.total_seconds() / 86400
    assert extended["average_holding_days"] == pytest.approx(float(held.mean()))
    assert extended["turnover"]["annual_turnover"] > 0
    exposure = extended["exposure"]
    # time in the market: the share of days ending with a position (quantstats' exposure counts days whose
    # return is not zero, the same days here but for a flat day's zero return while invested)
    invested = np.mean([bool(p) for p in _data().daily["positions"]])
    assert exposure["time_in_market"] == pytest.approx(invested)
    assert abs(exposure["time_in_market"] - qs.stats.exposure(daily_returns(_data()), prepare_returns=False)) < 0.05
    assert 0 < exposure["average_gross_leverage"] <= exposure["max_gross_leverage"] <= 3
    assert len(exposure["dates"]) == len(exposure["gross_leverage"]) == len(_data().daily)


def test_result_json_has_the_extended_figures_and_leaves_the_metrics_as_they_are() -> None:
    document = json.loads(render_json(_data(), NOW))
    assert document["metrics"] == json.loads(json.dumps(_data().metrics))
    assert set(document["extended"]) >= {"ratios", "exposure", "costs", "turnover", "worst_drawdowns", "yearly_returns"}
    assert document["extended"]["ratios"]["calmar_ratio"] == pytest.approx(_extended()["ratios"]["calmar_ratio"])


def test_no_minus_zero_percent() -> None:
    assert percent_text(-0.0004) == "0.0%"
    assert percent_text(-0.0006) == "-0.1%"
    assert percent_text(0.0) == "0.0%"
    assert percent_text(-0.00004, 2) == "0.00%"


def test_return_tiles_are_coloured_against_the_benchmark() -> None:
    data = _data()
    assert data.metrics is not None
    trailing = dataclasses.replace(
        data, metrics={**data.metrics, "benchmark": {**data.metrics["benchmark"], "benchmark_return": 1.5}}
    )
    html = render_html(trailing, NOW)
    total = html.split("Total return</div>")[1][:80]
    assert 'class="value neg"' in total  # trails the benchmark: red, whatever its sign
    assert 'Benchmark return</div><div class="value ">' in html  # the benchmark's own return: no colour
    assert "Excess return (vs benchmark)" in html


def _flat_then_trading() -> ReportData:
    """120 days in cash but for one commission, then 120 days holding a position that moves."""
    days = pd.bdate_range("2021-01-04", periods=240)
    rng = np.random.default_rng(5)
    values = [100_000.0] * 60 + [99_999.0] * 60  # one commission while flat
    level = values[-1]
    for r in rng.normal(0.0005, 0.01, 120):
        level *= 1 + r
        values.append(level)
    held = [[] for _ in range(120)] + [
        [
            {
                "instrument_id": "AAA.NASDAQ",
                "quantity": 10,
                "avg_price": "100",
                "market_price": "100",
                "market_value": "1000",
            }
        ]
    ] * 120
    daily = pd.DataFrame(
        {
            "timestamp": days,
            "cash_balance": values,
            "total_value": values,
            "margin_used": 0.0,
            "buying_power": values,
            "positions": held,
        }
    )
    return ReportData(uuid4(), "COMPLETED", {"initial_capital": 100_000}, None, pd.DataFrame(), daily)


def test_the_rolling_sharpe_is_blank_while_the_book_is_flat() -> None:
    figure = rolling_risk(_flat_then_trading())
    sharpe = pd.Series(figure.data[0].y, dtype=float)
    assert sharpe.iloc[:120].isna().all()  # flat: undefined, not -3..-5
    assert sharpe.iloc[-30:].notna().all()  # invested for a whole window: defined
