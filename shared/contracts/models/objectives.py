"""What a sweep can optimise: any metric of the data model's metrics JSON, and which way is better.

A metric is named by its key (`sharpe_ratio`) or its path (`risk.sharpe_ratio`). The natural
direction is the one a quant means by "best": higher returns and ratios, the smaller loss
(max_drawdown and avg_loss are negative, so higher is better), lower volatility and beta.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

Direction = Literal["maximize", "minimize"]

METRIC_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "returns": ("total_return", "cagr", "annualized_return"),
    "risk": ("max_drawdown", "sharpe_ratio", "sortino_ratio", "volatility"),
    "trading": ("win_rate", "avg_win", "avg_loss", "profit_factor", "expectancy"),
    "benchmark": ("benchmark_return", "alpha", "beta"),
}
MINIMIZED: Final = frozenset({"volatility", "beta"})
GROUP_OF: Final[dict[str, str]] = {name: group for group, names in METRIC_GROUPS.items() for name in names}


@dataclass(frozen=True)
class Objective:
    metric: str  # the key, e.g. sharpe_ratio
    direction: Direction

    @property
    def group(self) -> str:
        return GROUP_OF[self.metric]

    def value(self, metrics: dict[str, Any] | None) -> float | None:
        """The metric's value in a metrics JSON; None when absent or undefined (null)."""
        found = ((metrics or {}).get(self.group) or {}).get(self.metric)
        return None if found is None else float(found)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    def sort_key(self, value: float | None) -> tuple[int, float]:
        """Ascending order of this key puts the best first and undefined values last."""
        if value is None:
            return (1, 0.0)
        return (0, -value if self.direction == "maximize" else value)


def known_metrics() -> list[str]:
    return list(GROUP_OF)


def objective(name: str, direction: Direction | None = None) -> Objective:
    """`sharpe_ratio` or `risk.sharpe_ratio`, with its natural direction unless one is given; ValueError
    naming the known metrics otherwise."""
    metric = name.split(".", 1)[1] if "." in name else name
    group = name.split(".", 1)[0] if "." in name else GROUP_OF.get(metric)
    if metric not in GROUP_OF or GROUP_OF[metric] != group:
        raise ValueError(f"unknown metric {name!r}; any metric of the metrics JSON: {', '.join(GROUP_OF)}")
    return Objective(metric, direction or ("minimize" if metric in MINIMIZED else "maximize"))
