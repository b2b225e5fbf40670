"""The comparison report: several backtests' metrics side by side and their equity curves overlaid,
one self-contained HTML file (plotly.js inlined once, like the per-backtest report).

Pure: it renders the JSON of the gateway's `GET /backtests/compare?curves=true`. `bts backtest compare`
calls it on what the gateway returned, so a comparison needs no new topic, table or stored file; it
shares the look (style, chart layout, metric labels) of the reporting service's reports.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from shared.presentation.charts import layout
from shared.presentation.html import environment
from shared.presentation.metrics import GROUP_TITLES, LABELS, format_metric

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _equity(backtest: dict[str, Any]) -> pd.Series | None:
    curve = backtest.get("equity") or {}
    if not curve.get("dates"):
        return None
    return pd.Series([float(v) for v in curve["values"]], index=pd.to_datetime(curve["dates"]), dtype=float)


def _start_value(backtest: dict[str, Any], equity: pd.Series) -> float:
    capital = backtest.get("initial_capital")
    return float(capital) if capital not in (None, "") else float(equity.iloc[0])


def cumulative_returns(backtests: list[dict[str, Any]]) -> go.Figure:
    fig = go.Figure()
    for n, backtest in enumerate(backtests):
        equity = _equity(backtest)
        if equity is None:
            continue
        returns = (equity / _start_value(backtest, equity) - 1).round(6)
        fig.add_trace(
            go.Scatter(
                x=list(equity.index.strftime("%Y-%m-%d")),
                y=returns,
                mode="lines",
                name=backtest["label"],
                line={"color": COLORS[n % len(COLORS)]},
            )
        )
    return layout(fig, "Cumulative return (equity curves overlaid)", "Cumulative return", ".1%", height=460)


def drawdowns(backtests: list[dict[str, Any]]) -> go.Figure:
    fig = go.Figure()
    for n, backtest in enumerate(backtests):
        equity = _equity(backtest)
        if equity is None:
            continue
        peak = equity.cummax().clip(lower=_start_value(backtest, equity))
        fig.add_trace(
            go.Scatter(
                x=list(equity.index.strftime("%Y-%m-%d")),
                y=(equity / peak - 1).round(6),
                mode="lines",
                name=backtest["label"],
                line={"color": COLORS[n % len(COLORS)]},
            )
        )
    return layout(fig, "Drawdown from peak", "Drawdown", ".1%")


def _metric_groups(comparison: dict[str, Any], currency: str) -> list[dict[str, Any]]:
    ids = [b["id"] for b in comparison["backtests"]]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in comparison["metrics"]:
        cells = [
            {"value": format_metric(row["metric"], v, currency), "best": row.get("best") == ids[n]}
            for n, v in enumerate(row["values"])
        ]
        groups.setdefault(row["group"], []).append({"label": LABELS.get(row["metric"], row["metric"]), "cells": cells})
    return [{"title": GROUP_TITLES.get(g, g), "rows": rows} for g, rows in groups.items()]


RUN_HEADERS = ["Backtest", "Strategy", "Type", "Parameters", "Instruments", "Period", "Initial capital", "Trades", "Id"]


def _run_row(b: dict[str, Any]) -> list[str]:
    return [
        b["label"],
        b.get("strategy_name") or "",
        b.get("strategy_type") or "",
        json.dumps(b.get("parameters") or {}, sort_keys=True),
        ", ".join(b.get("instrument_ids") or []),
        f"{b.get('start_date')} to {b.get('end_date')}",
        str(b.get("initial_capital") or ""),
        str(b.get("trades_count", "")),
        str(b["id"]),
    ]


def render_comparison_html(comparison: dict[str, Any], generated_at: datetime, currency: str = "USD") -> str:
    backtests = [{**b, "color": COLORS[n % len(COLORS)]} for n, b in enumerate(comparison["backtests"])]
    figures = (
        [cumulative_returns(backtests), drawdowns(backtests)] if any(_equity(b) is not None for b in backtests) else []
    )
    charts = [
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{name}",
            config={"displaylogo": False, "responsive": True},
        )
        for name, fig in zip(("equity", "drawdown"), figures, strict=False)
    ]
    return (
        environment()
        .get_template("comparison.html.j2")
        .render(
            backtests=backtests,
            metric_groups=_metric_groups(comparison, currency),
            charts=charts,
            plotly_js=plotly.offline.get_plotlyjs() if charts else "",
            run_headers=RUN_HEADERS,
            runs=[_run_row(b) for b in backtests],
            generated_at=generated_at.isoformat(timespec="seconds"),
        )
    )
