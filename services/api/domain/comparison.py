"""Comparing backtests (pure): which ids were asked for, labels, and the metrics side by side."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

MAX_COMPARED: Final = 10
# The data model's metrics JSON in its order; for each metric whether more (True) or less (False) is better
# (None: no order, e.g. beta or the benchmark's own return). Drawdowns are negative: more is better.
METRIC_ORDER: Final[dict[str, dict[str, bool | None]]] = {
    "returns": {"total_return": True, "cagr": True, "annualized_return": True},
    "risk": {"max_drawdown": True, "sharpe_ratio": True, "sortino_ratio": True, "volatility": False},
    "trading": {"win_rate": True, "avg_win": True, "avg_loss": True, "profit_factor": True, "expectancy": True},
    "benchmark": {"benchmark_return": None, "alpha": True, "beta": None},
}


class ComparisonRequestError(ValueError):
    """The `ids` parameter is not 2..MAX_COMPARED distinct backtest ids."""


def parse_ids(text: str) -> list[UUID]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    ids: list[UUID] = []
    for part in parts:
        try:
            ids.append(UUID(part))
        except ValueError:
            raise ComparisonRequestError(f"{part!r} is not a backtest id (a UUID)") from None
    if len(set(ids)) != len(ids):
        repeated = sorted({str(i) for i in ids if ids.count(i) > 1})
        raise ComparisonRequestError(f"each backtest once: {', '.join(repeated)} repeated")
    if not 2 <= len(ids) <= MAX_COMPARED:
        raise ComparisonRequestError(f"compare 2 to {MAX_COMPARED} backtests, got {len(ids)}")
    return ids


@dataclass(frozen=True)
class MetricComparison:
    group: str
    metric: str
    values: list[float | None]
    best: int | None  # index into the compared backtests


def side_by_side(metrics: Sequence[dict[str, Any]]) -> list[MetricComparison]:
    rows = []
    for group, names in METRIC_ORDER.items():
        for name, more_is_better in names.items():
            values = [_number((m.get(group) or {}).get(name)) for m in metrics]
            rows.append(MetricComparison(group, name, values, _best(values, more_is_better)))
    return rows


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _best(values: list[float | None], more_is_better: bool | None) -> int | None:
    known = [(v, i) for i, v in enumerate(values) if v is not None]
    if more_is_better is None or len(known) < 2:
        return None
    value, index = max(known) if more_is_better else min(known)
    ties = [i for v, i in known if v == value]
    return index if len(ties) == 1 else None


def label(strategy: dict[str, Any], backtest_id: UUID) -> str:
    """`<name or type> <parameters>`: what tells runs of one strategy apart in a legend."""
    name = strategy.get("name") or strategy.get("strategy_type") or str(backtest_id)[:8]
    parameters = strategy.get("parameters") or {}
    shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(parameters.items()) if k != "allow_short" or v)
    return f"{name} ({shown})" if shown else str(name)


def unique_labels(labels: Sequence[str], ids: Sequence[UUID]) -> list[str]:
    """Labels that appear more than once get the backtest's short id."""
    return [f"{text} #{str(i)[:8]}" if labels.count(text) > 1 else text for text, i in zip(labels, ids, strict=True)]
