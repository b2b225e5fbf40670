"""The sweep report's charts (plotly): the objective over two parameters, the pre-screen against Nautilus,
and for a walk-forward the stitched out-of-sample curve and each window's in- and out-of-sample objective."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from services.reporting.domain.sweep_data import SweepReportData, heatmap_grid
from shared.contracts.models.enums import SweepChildState
from shared.presentation.charts import TEMPLATE
from shared.presentation.metrics import LABELS, PERCENT_METRICS


def _label(metric: str) -> str:
    return LABELS.get(metric, metric.replace("_", " "))


def _fmt(metric: str) -> str:
    return ".1%" if metric in PERCENT_METRICS else ".2f"


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, template=TEMPLATE, height=height, margin={"l": 70, "r": 20, "t": 50, "b": 50})
    return fig


def objective_map(data: SweepReportData) -> go.Figure | None:
    """A heatmap over the two chosen parameters; a scatter coloured by the objective when they take too many
    values for a grid; a line when only one parameter is swept."""
    metric = data.sweep.objective
    done = [c for c in data.ranked() if c.state == SweepChildState.COMPLETED and c.objective_value is not None]
    if not done:
        return None
    direction = "higher" if data.goal.direction == "maximize" else "lower"
    grid = heatmap_grid(data)
    if grid is not None:
        text = [["" if v is None else format(v, _fmt(metric)) for v in row] for row in grid.z]
        fig = go.Figure(
            go.Heatmap(
                z=grid.z,
                x=[str(v) for v in grid.x],
                y=[str(v) for v in grid.y],
                text=text,
                texttemplate="%{text}",
                colorscale="RdYlGn" if data.goal.direction == "maximize" else "RdYlGn_r",
                colorbar={"title": _label(metric), "tickformat": _fmt(metric)},
                hovertemplate=f"{grid.x_name}=%{{x}}<br>{grid.y_name}=%{{y}}<br>{_label(metric)}=%{{z:{_fmt(metric)}}}"
                "<extra></extra>",
            )
        )
        how = "mean over windows, " if data.sweep.walk_forward else ""
        fig = _layout(
            fig,
            f"{_label(metric)} over {grid.x_name} and {grid.y_name} ({direction} is better; "
            f"{how}the best over other parameters)",
            height=max(360, 120 + 28 * len(grid.y)),
        )
        fig.update_xaxes(title_text=grid.x_name, type="category")
        fig.update_yaxes(title_text=grid.y_name, type="category")
        return fig
    names = data.sweep.heatmap if len(data.sweep.heatmap) == 2 else data.swept[:2]
    values = [c.objective_value for c in done]
    if len(names) == 2:
        fig = go.Figure(
            go.Scatter(
                x=[c.parameters.get(names[0]) for c in done],
                y=[c.parameters.get(names[1]) for c in done],
                mode="markers",
                marker={
                    "color": values,
                    "colorscale": "RdYlGn",
                    "size": 9,
                    "showscale": True,
                    "colorbar": {"title": _label(metric)},
                    "reversescale": direction == "lower",
                },
                hovertemplate=f"{names[0]}=%{{x}}<br>{names[1]}=%{{y}}<br>{_label(metric)}=%{{marker.color:.4f}}"
                "<extra></extra>",
            )
        )
        fig = _layout(fig, f"{_label(metric)} over {names[0]} and {names[1]} ({direction} is better)")
        fig.update_xaxes(title_text=names[0])
        fig.update_yaxes(title_text=names[1])
        return fig
    name = names[0]
    pairs = sorted((c.parameters.get(name), c.objective_value) for c in done)
    fig = go.Figure(go.Scatter(x=[p[0] for p in pairs], y=[p[1] for p in pairs], mode="lines+markers"))
    fig = _layout(fig, f"{_label(metric)} by {name} ({direction} is better)")
    fig.update_xaxes(title_text=name)
    fig.update_yaxes(title_text=_label(metric), tickformat=_fmt(metric))
    return fig


def screen_scatter(data: SweepReportData) -> go.Figure | None:
    done = [
        c
        for c in data.children
        if c.state == SweepChildState.COMPLETED and c.prescreen_score is not None and c.objective_value is not None
    ]
    if not done:
        return None
    metric = data.sweep.objective
    fig = go.Figure(
        go.Scatter(
            x=[c.prescreen_score for c in done],
            y=[c.objective_value for c in done],
            mode="markers",
            text=[", ".join(f"{k}={c.parameters.get(k)}" for k in data.swept) for c in done],
            hovertemplate="%{text}<br>estimate %{x:.4f}<br>Nautilus %{y:.4f}<extra></extra>",
        )
    )
    fig = _layout(fig, f"Pre-screen estimate vs Nautilus result ({_label(metric)}) of the combinations that ran")
    fig.update_xaxes(title_text=f"vectorised estimate of {_label(metric)}")
    fig.update_yaxes(title_text=f"{_label(metric)} on Nautilus")
    return fig


def stitched_curve(data: SweepReportData) -> go.Figure | None:
    curve = data.stitched
    if curve is None or curve.empty:
        return None
    capital = float(data.sweep.configuration.get("initial_capital", curve.iloc[0]))
    dates = list(pd.DatetimeIndex(curve.index).strftime("%Y-%m-%d"))
    fig = go.Figure(go.Scatter(x=dates, y=(curve / capital - 1).round(6), mode="lines", name="out of sample, stitched"))
    bench = data.benchmark
    if bench is not None and not bench.empty:
        symbol = data.sweep.configuration.get("benchmark_symbol", "benchmark")
        fig.add_trace(
            go.Scatter(
                x=list(pd.DatetimeIndex(bench.index).strftime("%Y-%m-%d")),
                y=(bench / capital - 1).round(6),
                mode="lines",
                name=f"buy and hold {symbol}",
            )
        )
    for window in (data.sweep.walk_forward or {}).get("windows", []):
        fig.add_vline(x=window["out_of_sample_start"], line={"width": 1, "dash": "dot", "color": "#9ca3af"})
    fig = _layout(
        fig,
        "Stitched out-of-sample equity against buy and hold of the benchmark (each window run with the "
        "parameters its in-sample window chose)",
    )
    fig.update_yaxes(title_text="Cumulative return", tickformat=".1%")
    fig.update_xaxes(title_text="Date")
    return fig


def window_objectives(data: SweepReportData, rows: list[dict[str, object]]) -> go.Figure | None:
    if not rows:
        return None
    metric = data.sweep.objective
    labels = [f"window {r['index']}" for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[r["in_sample_objective"] for r in rows], name="in sample (best)"))
    fig.add_trace(go.Bar(x=labels, y=[r["out_of_sample_objective"] for r in rows], name="out of sample"))
    fig = _layout(fig, f"{_label(metric)}: the in-sample best against the same parameters out of sample")
    fig.update_yaxes(title_text=_label(metric), tickformat=_fmt(metric))
    fig.update_layout(barmode="group")
    return fig
