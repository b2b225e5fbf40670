"""Metric names as people read them: labels, groups and formats (percent, money, plain number).

Pure and light (no pandas, no plotly): the CLI's tables import it at start."""

from __future__ import annotations

from typing import Final

PERCENT_METRICS: Final = frozenset(
    {
        "total_return",
        "cagr",
        "annualized_return",
        "max_drawdown",
        "volatility",
        "win_rate",
        "benchmark_return",
        "alpha",
    }
)
MONEY_METRICS: Final = frozenset({"avg_win", "avg_loss", "expectancy"})
LABELS: Final = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "annualized_return": "Annualised return",
    "max_drawdown": "Max drawdown",
    "sharpe_ratio": "Sharpe ratio",
    "sortino_ratio": "Sortino ratio",
    "volatility": "Volatility (annualised)",
    "win_rate": "Win rate",
    "avg_win": "Average win",
    "avg_loss": "Average loss",
    "profit_factor": "Profit factor",
    "expectancy": "Expectancy per trade",
    "benchmark_return": "Benchmark return",
    "alpha": "Alpha (annualised)",
    "beta": "Beta",
}
GROUP_TITLES: Final = {"returns": "Returns", "risk": "Risk", "trading": "Trading", "benchmark": "Against the benchmark"}


def format_metric(name: str, value: float | None, currency: str = "USD") -> str:
    """`value` as shown in reports and tables: 12.34% for a ratio of the percent metrics, money with its currency."""
    if value is None:
        return "n/a"
    if name in PERCENT_METRICS:
        return percent_text(value, 2)
    if name in MONEY_METRICS:
        return f"{value:,.2f} {currency}"
    return f"{value:.2f}"


def percent_text(value: float, decimals: int = 1) -> str:
    """A fraction as a percentage, never "-0.0%" (a loss that rounds to nothing is shown as 0.0%)."""
    rounded = round(value * 100, decimals)
    return f"{(rounded if rounded != 0 else 0.0):.{decimals}f}%"
