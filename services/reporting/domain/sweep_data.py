"""Everything a sweep report shows, and the tables derived from it (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd

from shared.contracts.models.enums import SweepChildState, SweepPhase
from shared.contracts.models.objectives import objective
from shared.contracts.sweep_rows import SweepChildRow, SweepRow

HEADLINE = (
    ("returns", "total_return"),
    ("returns", "cagr"),
    ("risk", "sharpe_ratio"),
    ("risk", "max_drawdown"),
    ("trading", "win_rate"),
)


@dataclass
class SweepReportData:
    sweep: SweepRow
    children: list[SweepChildRow]
    report_links: dict[UUID, str] = field(default_factory=dict)  # child backtest id -> relative link to its report
    stitched: pd.Series | None = None  # walk-forward: the stitched out-of-sample equity curve
    stitched_summary: dict[str, float | None] | None = None
    benchmark: pd.Series | None = None  # walk-forward: the benchmark bought and held over the stitched curve

    @property
    def goal(self) -> Any:
        return objective(self.sweep.objective, self.sweep.direction)  # type: ignore[arg-type]

    @property
    def swept(self) -> list[str]:
        space = self.sweep.space
        names = list(space.get("grid") or {}) + [
            n for n in (space.get("ranges") or {}) if n not in (space.get("grid") or {})
        ]
        return names

    def ranked(self, phases: tuple[str, ...] = (SweepPhase.SWEEP, SweepPhase.IN_SAMPLE)) -> list[SweepChildRow]:
        """Run children best first: completed by the objective (undefined last), then the others."""
        goal = self.goal
        run = [c for c in self.children if c.phase in phases and c.state != SweepChildState.SCREENED_OUT]
        return sorted(
            run,
            key=lambda c: (
                c.state != SweepChildState.COMPLETED,
                *goal.sort_key(c.objective_value),
                c.window_index or 0,
                c.combination,
            ),
        )

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for child in self.children:
            found[child.state] = found.get(child.state, 0) + 1
        return found


def headline(child: SweepChildRow) -> dict[str, float | None]:
    metrics = child.metrics or {}
    return {name: (metrics.get(group) or {}).get(name) for group, name in HEADLINE}


def leaderboard_frame(
    data: SweepReportData, phases: tuple[str, ...] = (SweepPhase.SWEEP, SweepPhase.IN_SAMPLE), with_phase: bool = False
) -> pd.DataFrame:
    """One row per run child, best first: rank, parameters, objective, headline metrics, trades, ids."""
    rows = []
    walk_forward = data.sweep.walk_forward is not None
    ranked = data.ranked(phases)
    if walk_forward:  # runs of different windows are not comparable: ranked within their window
        ranked = sorted(ranked, key=lambda c: c.window_index or 0)  # stable: best first in each window
    ranks: dict[tuple[str, int | None] | None, int] = {}
    for child in ranked:
        key = (child.phase, child.window_index) if walk_forward else None
        rank = ranks[key] = ranks.get(key, 0) + 1
        row: dict[str, Any] = {"rank": rank}
        if with_phase:
            row["phase"] = child.phase
        if walk_forward:
            row["window"] = child.window_index
        row.update({name: child.parameters.get(name) for name in data.swept})
        row[data.sweep.objective] = child.objective_value
        row.update({k: v for k, v in headline(child).items() if k != data.sweep.objective})
        row.update(
            trades=child.trades_count,
            status=child.state,
            prescreen_score=child.prescreen_score,
            backtest_id=str(child.backtest_id) if child.backtest_id else "",
            error=child.error_message or "",
        )
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Grid:
    x_name: str
    y_name: str
    x: list[Any]
    y: list[Any]
    z: list[list[float | None]]  # rows: y values, columns: x values; the best objective in the cell


def heatmap_grid(data: SweepReportData, max_axis: int = 40) -> Grid | None:
    """The objective over the two heatmap parameters (the best over any other swept parameter; a walk-forward's
    in-sample results averaged over its windows first), or None when there are not two parameters or too many
    distinct values for a grid (random search over ranges)."""
    if len(data.sweep.heatmap) != 2:
        return None
    x_name, y_name = data.sweep.heatmap
    done = [c for c in data.ranked() if c.state == SweepChildState.COMPLETED and c.objective_value is not None]
    if not done:
        return None
    frame = pd.DataFrame(
        {
            "x": [c.parameters.get(x_name) for c in done],
            "y": [c.parameters.get(y_name) for c in done],
            "v": [c.objective_value for c in done],
            "combination": [c.combination for c in done],
        }
    )
    frame = frame.groupby("combination").agg(x=("x", "first"), y=("y", "first"), v=("v", "mean"))
    if frame["x"].nunique() > max_axis or frame["y"].nunique() > max_axis:
        return None
    best = frame.groupby(["y", "x"])["v"].agg("max" if data.goal.direction == "maximize" else "min")
    table = best.unstack("x").sort_index().reindex(sorted(frame["x"].unique()), axis=1)
    z = [[None if pd.isna(v) else float(v) for v in row] for row in table.to_numpy()]
    return Grid(x_name, y_name, list(table.columns), list(table.index), z)


@dataclass(frozen=True)
class ScreenQuality:
    spearman: float | None  # rank correlation of the pre-screen's estimate with the Nautilus objective
    pairs: int  # combinations that ran on Nautilus (the top k) and completed


def screen_quality(data: SweepReportData) -> ScreenQuality | None:
    """How well the vectorised pre-screen ranked the combinations that ran on Nautilus."""
    if data.sweep.prescreen_top_k is None:
        return None
    pairs = [
        (c.prescreen_score, c.objective_value)
        for c in data.children
        if c.state == SweepChildState.COMPLETED and c.prescreen_score is not None and c.objective_value is not None
    ]
    if len(pairs) < 3:
        return ScreenQuality(None, len(pairs))
    estimate, actual = (pd.Series(v, dtype=float) for v in zip(*pairs, strict=True))
    rho = estimate.rank().corr(actual.rank())
    return ScreenQuality(None if np.isnan(rho) else float(rho), len(pairs))
