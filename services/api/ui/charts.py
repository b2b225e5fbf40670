"""Small server-drawn charts (inline SVG, no script): overlaid equity curves and a heatmap's cells."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d")


@dataclass(frozen=True)
class Line:
    label: str
    color: str
    points: str  # SVG polyline points


def polylines(series: Sequence[tuple[str, Sequence[float]]], width: int = 800, height: int = 240) -> list[Line]:
    """Each (label, values) as a polyline scaled into one shared box (same y scale, so lines compare)."""
    values = [v for _, ys in series for v in ys]
    if not values:
        return []
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    lines = []
    for index, (label, ys) in enumerate(series):
        step = width / max(len(ys) - 1, 1)
        points = " ".join(f"{i * step:.1f},{height - (y - low) / span * height:.1f}" for i, y in enumerate(ys))
        lines.append(Line(label, PALETTE[index % len(PALETTE)], points))
    return lines


@dataclass(frozen=True)
class Heatmap:
    x_name: str
    y_name: str
    xs: list[Any]
    ys: list[Any]
    cells: dict[tuple[str, str], tuple[float, float]]  # (x, y) -> (objective, shade 0..1)


def heatmap(rows: Sequence[dict[str, Any]], axes: Sequence[str]) -> Heatmap | None:
    """The best objective per pair of values of the two heatmap parameters (rows: the leaderboard's, best first,
    so the first row of a pair is its best whichever way the objective is optimised)."""
    if len(axes) < 2:
        return None
    x_name, y_name = axes[0], axes[1]
    best: dict[tuple[str, str], float] = {}
    for row in rows:
        params, objective = row.get("parameters") or {}, row.get("objective")
        if objective is None or x_name not in params or y_name not in params:
            continue
        key = (str(params[x_name]), str(params[y_name]))
        best.setdefault(key, float(objective))
    if not best:
        return None
    low, high = min(best.values()), max(best.values())
    span = (high - low) or 1.0
    xs = sorted({k[0] for k in best}, key=_numeric)
    ys = sorted({k[1] for k in best}, key=_numeric)
    return Heatmap(x_name, y_name, xs, ys, {k: (v, (v - low) / span) for k, v in best.items()})


def _numeric(text: str) -> tuple[int, float | str]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)
