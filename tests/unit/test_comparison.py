"""Comparing backtests: the request's ids, the best value per metric, labels, and the HTML report."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from services.api.domain.comparison import (
    MAX_COMPARED,
    ComparisonRequestError,
    label,
    parse_ids,
    side_by_side,
    unique_labels,
)
from shared.presentation.comparison import render_comparison_html

A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def test_ids_are_two_to_the_cap_distinct_uuids() -> None:
    assert parse_ids(f" {A}, {B} ,") == [A, B]
    for text, needle in [
        (str(A), "compare 2 to 10 backtests, got 1"),
        (",".join(str(uuid.uuid4()) for _ in range(MAX_COMPARED + 1)), "compare 2 to 10 backtests, got 11"),
        (f"{A},nope", "'nope' is not a backtest id (a UUID)"),
        (f"{A},{A}", f"each backtest once: {A} repeated"),
        ("", "got 0"),
    ]:
        with pytest.raises(ComparisonRequestError, match=re.escape(needle)):
            parse_ids(text)


def _metrics(total: float, drawdown: float, volatility: float, beta: float | None) -> dict[str, Any]:
    return {
        "returns": {"total_return": total, "cagr": None, "annualized_return": total},
        "risk": {"max_drawdown": drawdown, "sharpe_ratio": 1.0, "sortino_ratio": None, "volatility": volatility},
        "trading": {"win_rate": 0.5, "avg_win": 10.0, "avg_loss": -5.0, "profit_factor": None, "expectancy": 1.0},
        "benchmark": {"benchmark_return": 0.1, "alpha": 0.01, "beta": beta},
    }


def test_side_by_side_marks_the_best_value_in_the_right_direction() -> None:
    rows = {
        (r.group, r.metric): r
        for r in side_by_side([_metrics(0.10, -0.20, 0.15, 0.9), _metrics(0.05, -0.05, 0.10, 1.1)])
    }
    assert len(rows) == 15  # every metric of the data model's JSON, in its order
    assert rows[("returns", "total_return")].values == [0.10, 0.05]
    assert rows[("returns", "total_return")].best == 0
    assert rows[("risk", "max_drawdown")].best == 1  # -5% is a smaller drawdown than -20%
    assert rows[("risk", "volatility")].best == 1  # less is better
    assert rows[("risk", "sharpe_ratio")].best is None  # a tie
    assert rows[("returns", "cagr")].best is None  # no values
    assert rows[("benchmark", "beta")].best is None  # no order
    assert rows[("trading", "profit_factor")].values == [None, None]


def test_labels_tell_runs_apart() -> None:
    assert label({"name": "sma", "parameters": {"fast_period": 5, "slow_period": 20, "allow_short": False}}, A) == (
        "sma (fast_period=5, slow_period=20)"
    )
    assert label({"strategy_type": "MOMENTUM", "parameters": {}}, A) == "MOMENTUM"
    assert unique_labels(["x", "x", "y"], [A, B, C]) == [f"x #{str(A)[:8]}", f"x #{str(B)[:8]}", "y"]


def _comparison() -> dict[str, Any]:
    def backtest(n: int, name: str, values: list[float]) -> dict[str, Any]:
        return {
            "id": str(uuid.UUID(int=n)),
            "label": name,
            "strategy_type": "SMA_CROSSOVER",
            "strategy_name": name,
            "parameters": {"fast_period": n},
            "instrument_ids": ["AAA.NASDAQ"],
            "start_date": "2021-01-04",
            "end_date": "2021-01-07",
            "initial_capital": "1000",
            "trades_count": 3,
            "winning_trades": 1,
            "losing_trades": 1,
            "completed_at": None,
            "metrics": _metrics(0.1 * n, -0.1, 0.2, 1.0),
            "equity": {"dates": [f"2021-01-0{d}" for d in range(4, 8)], "values": values},
        }

    first, second = backtest(1, "Run <one>", [1000, 1100, 1050, 1200]), backtest(2, "Run two", [1000, 990, 980, 1010])
    rows = side_by_side([first["metrics"], second["metrics"]])
    return {
        "backtests": [first, second],
        "metrics": [
            {
                "group": r.group,
                "metric": r.metric,
                "values": r.values,
                "best": [first["id"], second["id"]][r.best] if r.best is not None else None,
            }
            for r in rows
        ],
    }


def _traces(html: str, div_id: str) -> list[dict[str, Any]]:
    """The traces plotly draws in `div_id`, with base64 arrays decoded."""
    start = html.index("[", html.index(f'"{div_id}",', html.index("Plotly.newPlot")))
    traces, _ = json.JSONDecoder().raw_decode(html, start)
    for trace in traces:
        if isinstance(trace["y"], dict):
            trace["y"] = np.frombuffer(base64.b64decode(trace["y"]["bdata"]), dtype=trace["y"]["dtype"]).tolist()
    return list(traces)


def test_the_html_report_overlays_the_curves_and_is_self_contained() -> None:
    html = render_comparison_html(_comparison(), datetime(2024, 1, 2, tzinfo=UTC))
    assert "<script src" not in html  # plotly.js is inlined: the file opens offline
    assert html.count("Plotly.newPlot") == 2  # cumulative returns and drawdowns
    assert "Run <one>" not in html  # names are escaped, never raw markup
    assert "Run &lt;one&gt;" in html
    equity = _traces(html, "chart-equity")
    assert [t["name"] for t in equity] == ["Run <one>", "Run two"]
    assert equity[0]["y"] == pytest.approx([0.0, 0.1, 0.05, 0.2])  # cumulative return on the initial capital
    assert equity[1]["y"] == pytest.approx([0.0, -0.01, -0.02, 0.01])
    drawdown = _traces(html, "chart-drawdown")
    assert drawdown[0]["y"] == pytest.approx([0.0, 0.0, 1050 / 1100 - 1, 0.0], abs=1e-6)  # rounded to 6 places
    assert drawdown[1]["y"] == pytest.approx([0.0, -0.01, -0.02, 0.0])
    assert re.search(r'<td class="best">20\.00%</td>', html)  # the better total return of the two
