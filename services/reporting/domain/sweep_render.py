"""Render a sweep report: one self-contained HTML file (plotly.js inlined once) and the full leaderboard as CSV."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any
from uuid import UUID

import plotly.graph_objects as go
import plotly.offline

from services.reporting.domain.render import TEMPLATES
from services.reporting.domain.sweep_charts import objective_map, screen_scatter, stitched_curve, window_objectives
from services.reporting.domain.sweep_data import SweepReportData, headline, leaderboard_frame, screen_quality
from shared.contracts.models.enums import SweepChildState, SweepPhase
from shared.contracts.models.no_signal import is_no_signal
from shared.contracts.models.walk_forward import efficiency, out_of_sample
from shared.presentation.html import environment
from shared.presentation.metrics import format_metric

MAX_HTML_ROWS = 500  # the HTML shows the best 500; the CSV has every child


def _html(fig: go.Figure | None, name: str) -> str | None:
    if fig is None:
        return None
    html: str = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"chart-{name}",
        config={"displaylogo": False, "responsive": True},
    )
    return html


def _value(metric: str, value: Any) -> str:
    return format_metric(metric, None if value is None else float(value))


def window_rows(data: SweepReportData) -> list[dict[str, Any]]:
    """Per walk-forward window: dates, the in-sample best and what its parameters did out of sample."""
    rows = []
    for window in (data.sweep.walk_forward or {}).get("windows", []):
        index = int(window["index"])
        inside = [c for c in data.ranked((SweepPhase.IN_SAMPLE,)) if c.window_index == index]
        best = next((c for c in inside if c.state == SweepChildState.COMPLETED), None)
        oos = next((c for c in data.children if c.phase == SweepPhase.OUT_OF_SAMPLE and c.window_index == index), None)
        # no signal in the window: not a failure, the money stayed in cash (0%); the data model still
        # records the run itself as FAILED ("at least 1 signal"), the walk-forward counts it flat
        outcome = (
            out_of_sample(
                data.sweep.objective,
                oos.state,
                oos.objective_value,
                headline(oos)["total_return"] if oos.metrics else None,
                oos.error_message,
            )
            if oos
            else None
        )
        in_sample = best.objective_value if best else None
        objective_out = outcome.objective if outcome else None
        rows.append(
            {
                **window,
                "runs": len(inside),
                "best_parameters": best.parameters if best else None,
                "in_sample_objective": in_sample,
                "out_of_sample_objective": objective_out,
                "out_of_sample_return": outcome.total_return if outcome else None,
                "efficiency": efficiency([(in_sample, objective_out)]),
                "oos_backtest_id": oos.backtest_id if oos else None,
                "oos_state": ("FLAT (no signal: in cash, 0%)" if outcome and outcome.flat else oos.state)
                if oos
                else "not run",
                "oos_error": oos.error_message if oos else None,
            }
        )
    return rows


def _table(data: SweepReportData, phases: tuple[str, ...]) -> tuple[list[str], list[dict[str, Any]], int]:
    """A leaderboard's columns, its rows (the best MAX_HTML_ROWS) and how many rows it has in all."""
    sweep, metric = data.sweep, data.sweep.objective
    frame = leaderboard_frame(data, phases)
    hidden = {"backtest_id", "error", "prescreen_score", "phase"}
    columns = [c for c in frame.columns if c not in hidden] if len(frame) else []
    if sweep.prescreen_top_k is not None and len(frame):
        columns.insert(columns.index(metric) + 1, "prescreen_score")
    rows = []
    for record in frame.head(MAX_HTML_ROWS).to_dict("records"):
        cells = [
            _value(c, record[c])
            if c in {metric, "total_return", "cagr", "sharpe_ratio", "max_drawdown", "win_rate", "prescreen_score"}
            else ("" if record[c] is None or record[c] != record[c] else str(record[c]))
            for c in columns
        ]
        link = data.report_links.get(UUID(record["backtest_id"])) if record["backtest_id"] else None
        flat = is_no_signal(record["error"])
        if flat and "status" in columns:  # a window without a signal stayed in cash: not a failure
            cells[columns.index("status")] = "FLAT (no signal)"
        rows.append(
            {"cells": cells, "link": link, "backtest_id": record["backtest_id"], "error": record["error"], "flat": flat}
        )
    return columns, rows, len(frame)


def render_sweep_html(data: SweepReportData, generated_at: datetime) -> str:
    sweep, metric = data.sweep, data.sweep.objective
    # a walk-forward's leaderboards: in-sample runs ranked within their window, out-of-sample runs apart
    columns, rows, total = _table(data, (SweepPhase.SWEEP, SweepPhase.IN_SAMPLE))
    oos_columns, oos_rows, _ = _table(data, (SweepPhase.OUT_OF_SAMPLE,)) if sweep.walk_forward else ([], [], 0)
    windows = window_rows(data)
    for w in windows:
        w["in_sample_text"] = _value(metric, w["in_sample_objective"])
        w["out_of_sample_text"] = _value(metric, w["out_of_sample_objective"])
        w["return_text"] = _value("total_return", w["out_of_sample_return"])
        w["efficiency_text"] = "n/a" if w["efficiency"] is None else f"{w['efficiency']:.2f}"
        w["link"] = data.report_links.get(w["oos_backtest_id"]) if w["oos_backtest_id"] else None
        w["parameters_text"] = json.dumps(w["best_parameters"], sort_keys=True) if w["best_parameters"] else "—"
    charts = [
        c
        for c in (
            _html(objective_map(data), "objective"),
            _html(screen_scatter(data), "screen"),
            _html(stitched_curve(data), "stitched"),
            _html(window_objectives(data, windows), "windows"),
        )
        if c
    ]
    counts = data.counts()
    quality = screen_quality(data)
    best = next((c for c in data.ranked() if c.state == SweepChildState.COMPLETED), None)
    summary = data.stitched_summary or {}
    return (
        environment(TEMPLATES)
        .get_template("sweep_report.html.j2")
        .render(
            sweep=sweep,
            title=sweep.name or f"Sweep {str(sweep.id)[:8]}",
            metric=metric,
            direction="higher is better" if sweep.direction == "maximize" else "lower is better",
            counts=counts,
            columns=columns,
            rows=rows,
            oos_columns=oos_columns,
            oos_rows=oos_rows,
            more=max(0, total - MAX_HTML_ROWS),
            efficiency=_efficiency_text(windows),
            best=best,
            best_text=_value(metric, best.objective_value) if best else "n/a",
            best_link=data.report_links.get(best.backtest_id) if best and best.backtest_id else None,
            windows=windows,
            charts=charts,
            plotly_js=plotly.offline.get_plotlyjs() if charts else "",
            quality=quality,
            stitched={k: _value(k, v) for k, v in summary.items()},
            space=json.dumps(sweep.space, sort_keys=True),
            fixed=json.dumps(sweep.base_parameters, sort_keys=True),
            configuration=[
                (k.replace("_", " "), json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else str(v))
                for k, v in sweep.configuration.items()
            ],
            generated_at=generated_at.isoformat(timespec="seconds"),
        )
    )


def render_leaderboard_csv(data: SweepReportData) -> str:
    """Every run child (walk-forward: in and out of sample), best first, with its parameters and metrics."""
    buffer = io.StringIO()
    leaderboard_frame(data, (SweepPhase.SWEEP, SweepPhase.IN_SAMPLE, SweepPhase.OUT_OF_SAMPLE), with_phase=True).to_csv(
        buffer, index=False
    )
    return buffer.getvalue()


def _efficiency_text(windows: list[dict[str, Any]]) -> str | None:
    """The walk-forward efficiency over every window (None: not a walk-forward)."""
    if not windows:
        return None
    value = efficiency([(w["in_sample_objective"], w["out_of_sample_objective"]) for w in windows])
    return "n/a" if value is None else f"{value:.2f}"
