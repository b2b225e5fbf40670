"""The data model's metrics JSON from a daily equity curve, closed trades and benchmark closes.

Conventions (docs/engine.md): daily returns of the daily portfolio values, 252 periods a year,
risk-free 0, empyrical's definitions (Sharpe, Sortino, annual volatility, max drawdown as a
negative fraction, alpha/beta against the benchmark's daily closes); CAGR on calendar days; trade
statistics over closed round trips with pnl net of commission (a trade still open at the end is
reported apart, as open_trades and open_pnl, not counted here). Values that are undefined (no losing
trade, no downside, no benchmark) are None, never invented.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import empyrical
import numpy as np
import pandas as pd

TRADING_DAYS = 252


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def daily_returns(equity: pd.Series) -> pd.Series:
    """Simple returns of the end-of-day portfolio values (index: session dates)."""
    return equity.astype(float).pct_change().dropna()


def return_metrics(equity: pd.Series, initial_capital: float) -> dict[str, float | None]:
    total = float(equity.iloc[-1]) / initial_capital - 1.0
    days = (equity.index[-1] - equity.index[0]).days
    cagr = (1.0 + total) ** (365.25 / days) - 1.0 if days > 0 and total > -1.0 else None
    returns = daily_returns(equity)
    return {
        "total_return": total,
        "cagr": _finite(cagr),
        "annualized_return": _finite(empyrical.annual_return(returns, period="daily")),
    }


def risk_metrics(equity: pd.Series) -> dict[str, float | None]:
    returns = daily_returns(equity)
    return {
        "max_drawdown": _finite(empyrical.max_drawdown(returns)) or 0.0,
        "sharpe_ratio": _finite(empyrical.sharpe_ratio(returns, risk_free=0.0, period="daily")),
        "sortino_ratio": _finite(empyrical.sortino_ratio(returns, required_return=0.0, period="daily")),
        "volatility": _finite(empyrical.annual_volatility(returns, period="daily")) or 0.0,
    }


def trading_metrics(closed_pnls: Sequence[Decimal]) -> dict[str, float | None]:
    """Over closed round trips only: win_rate = winning / closed trades, as avg win/loss and expectancy."""
    pnl = np.array([float(p) for p in closed_pnls], dtype=float)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    return {
        "win_rate": len(wins) / len(pnl) if len(pnl) else 0.0,
        "avg_win": float(wins.mean()) if len(wins) else None,
        "avg_loss": float(losses.mean()) if len(losses) else None,
        "profit_factor": float(wins.sum() / -losses.sum()) if len(losses) else None,
        "expectancy": float(pnl.mean()) if len(pnl) else 0.0,
    }


def benchmark_metrics(equity: pd.Series, benchmark_closes: pd.Series | None) -> dict[str, float | None]:
    """Against the benchmark's closes on the same sessions; all None when there are none."""
    empty: dict[str, float | None] = {"benchmark_return": None, "alpha": None, "beta": None}
    if benchmark_closes is None or len(benchmark_closes) < 2:
        return empty
    aligned = pd.concat({"strategy": equity.astype(float), "benchmark": benchmark_closes.astype(float)}, axis=1)
    aligned = aligned.dropna()
    if len(aligned) < 2:
        return empty
    returns = aligned.pct_change().dropna()
    alpha, beta = empyrical.alpha_beta(returns["strategy"], returns["benchmark"], risk_free=0.0, period="daily")
    bench = aligned["benchmark"]
    return {
        "benchmark_return": float(bench.iloc[-1] / bench.iloc[0] - 1.0),
        "alpha": _finite(alpha),
        "beta": _finite(beta),
    }


def performance_metrics(
    equity: pd.Series,
    initial_capital: float,
    closed_pnls: Sequence[Decimal],
    benchmark_closes: pd.Series | None,
) -> dict[str, dict[str, float | None]]:
    """The data model's JSON: returns, risk, trading, benchmark (fractions, not percent)."""
    return {
        "returns": return_metrics(equity, initial_capital),
        "risk": risk_metrics(equity),
        "trading": trading_metrics(closed_pnls),
        "benchmark": benchmark_metrics(equity, benchmark_closes),
    }
