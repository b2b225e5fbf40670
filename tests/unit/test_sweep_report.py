"""The sweep report's pure parts: ranking, the heatmap grid (best over other parameters), the pre-screen's
quality, the full leaderboard CSV and a self-contained HTML page."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from services.reporting.domain.sweep_data import SweepReportData, heatmap_grid, screen_quality
from services.reporting.domain.sweep_render import render_leaderboard_csv, render_sweep_html, window_rows
from shared.contracts.models.no_signal import no_signal_message
from shared.contracts.models.walk_forward import WindowCurve, buy_and_hold, efficiency, stitch, summary
from shared.contracts.sweep_rows import SweepChildRow, SweepRow

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _sweep(**changes: Any) -> SweepRow:
    values: dict[str, Any] = dict(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        name="t",
        strategy_id=None,
        strategy_type="SMA_CROSSOVER",
        base_parameters={},
        space={"grid": {"fast_period": [5, 10], "slow_period": [20, 40], "allow_short": [False, True]}},
        configuration={
            "instrument_ids": ["A.X"],
            "start_date": "2020-01-01",
            "end_date": "2021-12-31",
            "initial_capital": "100000",
        },
        timeframe="BAR_DAILY",
        objective="sharpe_ratio",
        direction="maximize",
        heatmap=["fast_period", "slow_period"],
        prescreen_top_k=None,
        walk_forward=None,
        report_top=1,
        combinations=8,
        skipped=0,
        total=8,
        status="COMPLETED",
        submitted_at=NOW,
        started_at=NOW,
        completed_at=NOW,
    )
    values.update(changes)
    return SweepRow(**values)


def _child(
    n: int, params: dict[str, Any], value: float | None, state: str = "COMPLETED", score: float | None = None
) -> SweepChildRow:
    metrics = (
        None
        if state != "COMPLETED"
        else {
            "returns": {"total_return": (value or 0) / 10, "cagr": 0.01},
            "risk": {"sharpe_ratio": value, "max_drawdown": -0.05},
            "trading": {"win_rate": 0.5},
        }
    )
    return SweepChildRow(
        n=n,
        backtest_id=uuid.uuid4() if state != "SCREENED_OUT" else None,
        combination=n,
        phase="SWEEP",
        window_index=None,
        parameters=params,
        start_date=date(2020, 1, 1),
        end_date=date(2021, 12, 31),
        state=state,
        prescreen_score=score,
        objective_value=value,
        metrics=metrics,
        trades_count=10 if metrics else None,
        error_message=None if state != "FAILED" else "no signal",
        published_at=NOW,
        finished_at=NOW,
    )


def _data() -> SweepReportData:
    children = []
    values = iter([0.5, 1.5, -0.2, 0.9, None, 2.0, 0.1, None])
    for n, (fast, slow, short) in enumerate((f, s, a) for f in (5, 10) for s in (20, 40) for a in (False, True)):
        value = next(values)
        state = "FAILED" if n == 7 else "COMPLETED"
        children.append(_child(n, {"fast_period": fast, "slow_period": slow, "allow_short": short}, value, state))
    return SweepReportData(sweep=_sweep(), children=children)


def test_children_are_ranked_best_first_undefined_and_failed_last() -> None:
    ranked = _data().ranked()
    assert [c.objective_value for c in ranked] == [2.0, 1.5, 0.9, 0.5, 0.1, -0.2, None, None]
    assert ranked[-1].state == "FAILED"
    minimizing = SweepReportData(sweep=_sweep(direction="minimize"), children=_data().children)
    assert [c.objective_value for c in minimizing.ranked()][:2] == [-0.2, 0.1]


def test_the_heatmap_cell_is_the_best_over_the_other_parameters() -> None:
    grid = heatmap_grid(_data())
    assert grid is not None
    assert (grid.x_name, grid.y_name, grid.x, grid.y) == ("fast_period", "slow_period", [5, 10], [20, 40])
    # (5, 20): 0.5 and 1.5 -> 1.5; (5, 40): -0.2 and 0.9 -> 0.9; (10, 20): None and 2.0 -> 2.0; (10, 40): 0.1
    assert grid.z == [[1.5, 2.0], [0.9, 0.1]]


def test_the_screen_quality_is_the_rank_correlation_of_what_ran() -> None:
    children = [
        _child(i, {"fast_period": i + 1, "slow_period": 50}, v, score=s)
        for i, (v, s) in enumerate([(1.0, 0.1), (2.0, 0.2), (3.0, 0.4), (4.0, 0.3)])
    ]
    children.append(_child(9, {"fast_period": 9, "slow_period": 50}, None, "SCREENED_OUT", score=-1.0))
    quality = screen_quality(SweepReportData(sweep=_sweep(prescreen_top_k=4), children=children))
    assert quality is not None
    assert quality.pairs == 4
    assert quality.spearman == pd.Series([1, 2, 3, 4]).corr(pd.Series([1, 2, 4, 3]))


def test_the_csv_has_every_run_child_and_the_html_links_the_reported_ones() -> None:
    data = _data()
    best = data.ranked()[0]
    assert best.backtest_id is not None
    data.report_links[best.backtest_id] = f"../../{best.backtest_id}/report.html"
    rows = list(csv.DictReader(io.StringIO(render_leaderboard_csv(data))))
    assert len(rows) == 8
    assert rows[0]["fast_period"] == "10"
    assert rows[0]["sharpe_ratio"] == "2.0"
    assert rows[-1]["status"] == "FAILED"
    html = render_sweep_html(data, NOW)
    assert html.startswith("<!DOCTYPE html>")
    assert f'href="../../{best.backtest_id}/report.html"' in html
    assert html.count('href="../../') == 2  # the summary's best and its leaderboard row
    assert 'id="chart-objective"' in html
    assert "Plotly.newPlot" in html
    assert "no signal" in html  # a failed child says why


def test_a_walk_forwards_heatmap_averages_each_combination_over_its_windows() -> None:
    children = []
    for window, values in enumerate(([1.0, 3.0], [2.0, -1.0])):
        for combination, value in enumerate(values):
            child = _child(combination, {"fast_period": 5, "slow_period": 20 * (combination + 1)}, value)
            children.append(child.model_copy(update={"phase": "IN_SAMPLE", "window_index": window, "n": len(children)}))
    grid = heatmap_grid(SweepReportData(sweep=_sweep(walk_forward={"windows": []}), children=children))
    assert grid is not None
    assert grid.z == [[1.5], [1.0]]  # (1 + 2) / 2 and (3 - 1) / 2


def walk_forward_data() -> SweepReportData:
    """Two windows of two in-sample runs each; window 0's out-of-sample run completed, window 1's had no signal."""
    windows = [
        {
            "index": i,
            "in_sample_start": f"{2019 + i}-01-01",
            "in_sample_end": f"{2019 + i}-12-31",
            "out_of_sample_start": f"{2020 + i}-01-01",
            "out_of_sample_end": f"{2020 + i}-12-31",
        }
        for i in range(2)
    ]
    spec = {"in_sample_months": 12, "out_of_sample_months": 12, "mode": "rolling", "windows": windows}
    children = []
    for window, values in enumerate(([1.0, 3.0], [2.0, -1.0])):
        for combination, value in enumerate(values):
            child = _child(combination, {"fast_period": 5, "slow_period": 20 * (combination + 1)}, value)
            children.append(child.model_copy(update={"phase": "IN_SAMPLE", "window_index": window, "n": len(children)}))
    oos = _child(4, {"fast_period": 5, "slow_period": 40}, 1.5)
    children.append(
        oos.model_copy(
            update={
                "phase": "OUT_OF_SAMPLE",
                "window_index": 0,
                "start_date": date(2020, 1, 1),
                "end_date": date(2020, 12, 31),
            }
        )
    )
    flat = _child(5, {"fast_period": 5, "slow_period": 20}, None, "FAILED")
    message = no_signal_message(date(2021, 1, 1), date(2021, 12, 31))
    children.append(
        flat.model_copy(
            update={
                "phase": "OUT_OF_SAMPLE",
                "window_index": 1,
                "start_date": date(2021, 1, 1),
                "end_date": date(2021, 12, 31),
                "error_message": message,
            }
        )
    )
    data = SweepReportData(sweep=_sweep(walk_forward=spec, heatmap=[]), children=children)
    days = pd.bdate_range("2020-01-01", "2020-12-31")
    curves = [
        WindowCurve(0, [d.date() for d in days], list(100_000 * (1 + 0.0004 * np.arange(len(days))))),
        WindowCurve(1, None, None, date(2021, 1, 1), date(2021, 12, 31)),
    ]
    data.stitched = stitch(curves, 100_000)
    data.stitched_summary = summary(data.stitched, 100_000)
    closes = pd.Series(300 * (1 + 0.0006 * np.arange(520)), index=pd.bdate_range("2020-01-01", periods=520))
    data.benchmark = buy_and_hold(closes, data.stitched, 100_000)
    return data


def test_a_walk_forward_window_without_a_signal_is_flat_not_failed() -> None:
    data = walk_forward_data()
    assert data.stitched is not None
    window_1 = data.stitched[data.stitched.index >= pd.Timestamp("2021-01-01")]
    assert len(window_1) == len(pd.bdate_range("2021-01-01", "2021-12-31"))
    assert window_1.nunique() == 1  # in cash: flat at the level window 0 ended on
    assert window_1.iloc[0] == data.stitched[data.stitched.index < pd.Timestamp("2021-01-01")].iloc[-1]
    rows = window_rows(data)
    assert rows[1]["oos_state"].startswith("FLAT (no signal")
    assert rows[1]["out_of_sample_return"] == 0.0
    assert rows[0]["efficiency"] == 1.5 / 3.0  # out of sample / the chosen in-sample objective
    html = render_sweep_html(data, NOW)
    assert "FLAT (no signal: in cash, 0%)" in html
    assert ">FAILED<" not in html


def test_a_walk_forward_report_separates_in_from_out_of_sample_and_shows_the_benchmark() -> None:
    data = walk_forward_data()
    html = render_sweep_html(data, NOW)
    assert "Out-of-sample runs (one per window" in html
    assert "in-sample runs, ranked within each window" in html
    assert "Walk-forward efficiency" in html
    assert "buy and hold" in html
    csv_rows = list(csv.DictReader(io.StringIO(render_leaderboard_csv(data))))
    in_sample = [r for r in csv_rows if r["phase"] == "IN_SAMPLE"]
    assert [(r["window"], r["rank"]) for r in in_sample] == [("0", "1"), ("0", "2"), ("1", "1"), ("1", "2")]
    assert data.benchmark is not None
    assert data.benchmark.iloc[0] == 100_000  # bought on the stitched curve's first day
    assert list(data.benchmark.index) == list(data.stitched.index)  # type: ignore[union-attr]


def test_walk_forward_efficiency_is_the_mean_out_of_sample_over_the_mean_in_sample() -> None:
    assert efficiency([(2.0, 1.0), (4.0, 2.0)]) == 0.5
    assert efficiency([(2.0, None), (None, 1.0)]) is None
    assert efficiency([(1.0, 1.0), (-1.0, 0.5)]) is None  # in-sample mean 0: undefined, not infinite
