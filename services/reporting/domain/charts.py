"""The report's charts (plotly): labelled axes, units, percentages shown as percentages."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go

from services.reporting.domain.report_data import ReportData
from shared.presentation.charts import layout
from shared.presentation.metrics import percent_text

ROLLING_DAYS = 63  # a quarter of trading days


def _x(index: pd.Index | pd.Series) -> npt.NDArray[np.object_]:
    """Dates as plain strings ('2024-01-02' or '2024-01-02 14:30'): fewer bytes than full timestamps. An array,
    not a list: plotly checks a list element by element, an array at once."""
    stamps = pd.DatetimeIndex(index)
    naive = stamps.tz_convert(None) if stamps.tz is not None else stamps
    daily = len(stamps) and naive.normalize().nunique() == len(stamps)
    text: npt.NDArray[np.object_] = stamps.strftime("%Y-%m-%d" if daily else "%Y-%m-%d %H:%M").to_numpy(dtype=object)
    return text


def equity_vs_benchmark(data: ReportData) -> go.Figure:
    equity = data.equity
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=_x(equity.index), y=(equity / equity.iloc[0] - 1).round(6), name="Strategy", mode="lines")
    )
    if data.benchmark is not None and len(data.benchmark) > 1:
        bench = data.benchmark.astype(float)
        fig.add_trace(
            go.Scatter(
                x=_x(bench.index),
                y=(bench / bench.iloc[0] - 1).round(6),
                mode="lines",
                name=f"Benchmark ({data.configuration.get('benchmark_symbol', '')})",
            )
        )
    return layout(fig, "Cumulative return: strategy vs benchmark", "Cumulative return", ".1%")


def drawdown(data: ReportData) -> go.Figure:
    equity = data.equity
    underwater = equity / equity.cummax() - 1
    fig = go.Figure(
        go.Scatter(
            x=underwater.index, y=underwater, fill="tozeroy", name="Drawdown", mode="lines", line={"color": "#d62728"}
        )
    )
    return layout(fig, "Drawdown (underwater curve)", "Drawdown from peak", ".1%")


def monthly_returns(data: ReportData) -> go.Figure:
    equity = data.equity
    monthly = equity.resample("ME").last().pct_change()
    monthly.iloc[0] = equity.resample("ME").last().iloc[0] / equity.iloc[0] - 1
    table = pd.DataFrame({"year": monthly.index.year, "month": monthly.index.month, "ret": monthly.to_numpy()})
    grid = table.pivot(index="year", columns="month", values="ret").reindex(columns=range(1, 13))
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    text = [[percent_text(v) if pd.notna(v) else "" for v in row] for row in grid.to_numpy()]
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=months,
            y=[str(y) for y in grid.index],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0,
            colorbar={"title": "Return", "tickformat": ".1%"},
            hovertemplate="%{y} %{x}: %{z:.2%}<extra></extra>",
        )
    )
    fig = layout(fig, "Monthly returns", "Year", height=120 + 40 * len(grid))
    fig.update_xaxes(title_text="Month")
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def _invested(data: ReportData) -> pd.Series:
    """Per day: True when a position was held at the end of the day."""
    held = data.daily["positions"].map(lambda p: bool(p))
    return pd.Series(held.to_numpy(), index=pd.DatetimeIndex(data.daily["timestamp"]))


def rolling_risk(data: ReportData) -> go.Figure:
    returns = data.equity.pct_change().dropna()
    mean = returns.rolling(ROLLING_DAYS).mean()
    std = returns.rolling(ROLLING_DAYS).std()
    # Undefined (blank) while the book was mostly flat: a window of cash days and a commission or two has a
    # tiny variance and a meaningless Sharpe of -3..-5. Blank when under half its days held a position.
    invested = _invested(data).reindex(returns.index).fillna(False).astype(float)
    flat = invested.rolling(ROLLING_DAYS).mean() < 0.5
    sharpe = ((mean / std.where(std > 1e-9)) * np.sqrt(252)).mask(flat)
    vol = std * np.sqrt(252)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=_x(sharpe.index), y=sharpe.round(4), name=f"Rolling Sharpe ({ROLLING_DAYS} days)", mode="lines")
    )
    fig.add_trace(
        go.Scatter(x=_x(vol.index), y=vol.round(5), name="Rolling volatility (annualised)", mode="lines", yaxis="y2")
    )
    fig = layout(fig, f"Rolling Sharpe ratio and volatility ({ROLLING_DAYS} trading days)", "Sharpe ratio")
    fig.update_layout(yaxis2={"title": "Volatility", "overlaying": "y", "side": "right", "tickformat": ".1%"})
    return fig


def trades_on_prices(data: ReportData) -> go.Figure:
    fig = go.Figure()
    trades = data.trades
    for instrument, closes in sorted(data.prices.items()):
        fig.add_trace(
            go.Scatter(
                x=_x(closes.index), y=closes.astype(float), name=f"{instrument} close", mode="lines", line={"width": 1}
            )
        )
        mine = trades[trades["instrument_id"] == instrument]
        if mine.empty:
            continue
        buys = mine[mine["side"] == "LONG"]
        sells = mine[mine["side"] == "SHORT"]
        for label, frame, symbol, color in (
            ("long entry", buys, "triangle-up", "#2ca02c"),
            ("short entry", sells, "triangle-down", "#d62728"),
        ):
            if not frame.empty:
                fig.add_trace(
                    go.Scatter(
                        x=_x(frame["entry_time"]),
                        y=frame["entry_price"].astype(float),
                        mode="markers",
                        name=f"{instrument} {label}",
                        marker={"symbol": symbol, "size": 9, "color": color},
                    )
                )
        exits = mine.dropna(subset=["exit_time"])
        if not exits.empty:
            fig.add_trace(
                go.Scatter(
                    x=_x(exits["exit_time"]),
                    y=exits["exit_price"].astype(float),
                    mode="markers",
                    name=f"{instrument} exit",
                    marker={"symbol": "x", "size": 8, "color": "#555"},
                )
            )
    return layout(
        fig, "Trades on prices (entries and exits)", f"Price ({data.configuration.get('currency', 'USD')})", height=460
    )


def pnl_distribution(data: ReportData) -> go.Figure:
    pnl = data.trades["pnl"].dropna().astype(float)
    fig = go.Figure(
        go.Histogram(x=pnl, nbinsx=min(60, max(10, len(pnl) // 5)), name="Trades", marker={"color": "#1f77b4"})
    )
    fig = layout(fig, "Distribution of trade P&L (net of commission)", "Number of trades")
    fig.update_xaxes(title_text=f"P&L per trade ({data.configuration.get('currency', 'USD')})")
    fig.update_layout(hovermode="closest")
    return fig


def exposure(data: ReportData, extended: dict[str, Any]) -> go.Figure:
    """Gross leverage (sum of |position value| / portfolio value) and net exposure, day by day."""
    series = extended.get("exposure") or {}
    dates = np.asarray(series.get("dates", []), dtype=object)
    fig = go.Figure()
    for key, name in (("gross_leverage", "Gross leverage"), ("net_exposure", "Net exposure")):
        fig.add_trace(go.Scatter(x=dates, y=np.asarray(series.get(key, []), dtype=np.float64), name=name))
    return layout(fig, "Exposure and gross leverage over time", "Position value / portfolio value", ".0%")


def yearly_returns(extended: dict[str, Any], benchmark_label: str) -> go.Figure:
    rows = extended.get("yearly_returns") or []
    years = [str(r["year"]) for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=years, y=[r["strategy"] for r in rows], name="Strategy"))
    if any(r["benchmark"] is not None for r in rows):
        fig.add_trace(go.Bar(x=years, y=[r["benchmark"] for r in rows], name=f"Benchmark ({benchmark_label})"))
    fig = layout(fig, "Yearly returns: strategy vs benchmark", "Return", ".1%")
    fig.update_xaxes(title_text="Year", type="category")
    fig.update_layout(barmode="group")
    return fig


def all_charts(data: ReportData, extended: dict[str, Any] | None = None) -> list[tuple[str, go.Figure]]:
    extra = extended or {}
    more = (
        [
            ("exposure", exposure(data, extra)),
            ("yearly", yearly_returns(extra, str(data.configuration.get("benchmark_symbol", "")))),
        ]
        if extra
        else []
    )
    return [
        ("equity", equity_vs_benchmark(data)),
        ("drawdown", drawdown(data)),
        *more,
        ("monthly", monthly_returns(data)),
        ("rolling", rolling_risk(data)),
        ("trades", trades_on_prices(data)),
        ("pnl", pnl_distribution(data)),
    ]
