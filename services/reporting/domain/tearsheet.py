"""The tear sheet beyond the data model's metrics: exposure, leverage, turnover, costs, tail risk, the worst
drawdowns, yearly returns against the benchmark, P&L by instrument and holding periods (pure).

The ratios come from empyrical (the library the engine's metrics use, so the conventions agree: daily
returns, 252 periods a year, risk-free 0); skew and kurtosis from pandas (excess kurtosis, normal = 0), as
quantstats computes them. The tests cross-check every figure against quantstats. This goes to `result.json`
under `extended`; the data model's `metrics` stay as they are.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import empyrical
import numpy as np
import pandas as pd

from services.reporting.domain.report_data import ReportData

VAR_CUTOFF = 0.05  # daily VaR and CVaR at 95%
WORST_DRAWDOWNS = 5
TRADING_DAYS = 252


def _number(value: Any) -> float | None:
    """A finite float, or None (undefined is null, never invented)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _dates(index: pd.Index) -> pd.DatetimeIndex:
    """Days without a time zone (the stored series are dates; snapshots may carry their UTC stamp)."""
    days = pd.DatetimeIndex(index)
    return (days.tz_convert(None) if days.tz is not None else days).normalize()


def equity_by_day(data: ReportData) -> pd.Series:
    equity = data.equity
    return pd.Series(equity.to_numpy(), index=_dates(equity.index), dtype=float)


def daily_returns(data: ReportData) -> pd.Series:
    """End-of-day returns, the first one from the initial capital (as the engine's metrics)."""
    equity = equity_by_day(data)
    if equity.empty:
        return pd.Series(dtype=float)
    capital = float(data.configuration.get("initial_capital", equity.iloc[0]))
    start = pd.Series([capital], index=[equity.index[0] - pd.Timedelta(days=1)])
    return pd.concat([start, equity]).pct_change().dropna()


def benchmark_returns(data: ReportData, on: pd.Index) -> pd.Series | None:
    """The benchmark's daily returns on the strategy's days (None: no benchmark)."""
    if data.benchmark is None or len(data.benchmark) < 2:
        return None
    closes = data.benchmark.astype(float)
    closes.index = _dates(closes.index)
    closes = closes[~closes.index.duplicated(keep="last")].sort_index()
    returns = closes.pct_change().reindex(on)
    return returns.fillna(0.0)


def _market_value(holding: dict[str, Any]) -> float:
    """A stored position's value: its market_value (quantity x market price, signed)."""
    if "market_value" in holding:
        return float(holding["market_value"])
    return float(holding["quantity"]) * float(holding["market_price"])


def exposure_frame(data: ReportData) -> pd.DataFrame:
    """Per day: gross (sum of |market value|) and net position value over the portfolio's total value."""
    gross, net = [], []
    for positions in data.daily["positions"]:
        held = json.loads(positions) if isinstance(positions, str) else positions or []
        values = [_market_value(p) for p in held]
        gross.append(sum(abs(v) for v in values))
        net.append(sum(values))
    total = data.daily["total_value"].astype(float).replace(0.0, np.nan).to_numpy()
    return pd.DataFrame(
        {
            "gross_leverage": np.asarray(gross, dtype=float) / total,
            "net_exposure": np.asarray(net, dtype=float) / total,
        },
        index=_dates(data.daily["timestamp"]),
    )


@dataclass(frozen=True)
class Drawdown:
    depth: float  # negative fraction
    peak: pd.Timestamp
    trough: pd.Timestamp
    recovery: pd.Timestamp | None  # None: not recovered by the end
    days: int  # calendar days from the peak to the recovery (or to the end)

    def as_dict(self) -> dict[str, Any]:
        return {
            "depth": round(self.depth, 6),
            "peak": self.peak.date().isoformat(),
            "trough": self.trough.date().isoformat(),
            "recovery": self.recovery.date().isoformat() if self.recovery is not None else None,
            "days": self.days,
        }


def worst_drawdowns(equity: pd.Series, top: int = WORST_DRAWDOWNS) -> list[Drawdown]:
    """The `top` deepest drawdowns: each from a peak to its trough and the first day back at the peak.
    (empyrical has no drawdown table; quantstats' `drawdown_details` agrees on depths and troughs in the tests.)"""
    if equity.empty:
        return []
    underwater = equity / equity.cummax() - 1.0
    below = underwater < 0
    episode = (below != below.shift(fill_value=False)).cumsum()[below]
    found = []
    for _, days in underwater[below].groupby(episode):
        before = underwater.index[underwater.index < days.index[0]]
        peak = before[-1] if len(before) else days.index[0]
        after = underwater.index[(underwater.index > days.index[-1])]
        recovery = after[0] if len(after) else None
        end = recovery if recovery is not None else underwater.index[-1]
        found.append(Drawdown(float(days.min()), peak, days.idxmin(), recovery, int((end - peak).days)))
    return sorted(found, key=lambda d: d.depth)[:top]


def yearly_returns(returns: pd.Series, bench: pd.Series | None) -> list[dict[str, Any]]:
    """Each calendar year's compounded return, the benchmark's and the difference (empyrical.aggregate_returns)."""
    if returns.empty:
        return []
    mine = empyrical.aggregate_returns(returns, "yearly")
    theirs = empyrical.aggregate_returns(bench, "yearly") if bench is not None else None
    rows = []
    for year, value in mine.items():
        other = _number(theirs.get(year)) if theirs is not None else None
        rows.append(
            {
                "year": int(year),
                "strategy": _number(value),
                "benchmark": other,
                "excess": None if other is None else _number(value - other),
            }
        )
    return rows


def _holding_days(trades: pd.DataFrame) -> pd.Series:
    closed = trades.dropna(subset=["exit_time"])
    spans = pd.to_datetime(closed["exit_time"], utc=True) - pd.to_datetime(closed["entry_time"], utc=True)
    return spans.dt.total_seconds() / 86_400.0


def by_instrument(trades: pd.DataFrame) -> list[dict[str, Any]]:
    """Per instrument: trades (closed and open), winners, net P&L of closed trades, costs, average holding."""
    rows = []
    for instrument, mine in trades.groupby("instrument_id", sort=True):
        closed = mine.dropna(subset=["exit_time"])
        pnl = closed["pnl"].astype(float)
        holding = _holding_days(mine)
        rows.append(
            {
                "instrument_id": str(instrument),
                "trades": len(closed),
                "open": len(mine) - len(closed),
                "winning": int((pnl > 0).sum()),
                "pnl": round(float(pnl.sum()), 2),
                "commission": round(float(mine["commission"].astype(float).sum()), 2),
                "slippage": round(float(mine["slippage"].astype(float).sum()), 2),
                "avg_holding_days": _number(holding.mean()) if len(holding) else None,
            }
        )
    return rows


def _turnover(trades: pd.DataFrame, equity: pd.Series) -> dict[str, float | None]:
    """Traded value (every entry and exit, at its fill price) and the annual turnover: half of it (a round
    trip turns the book over once) over the average portfolio value, per year."""
    quantity = trades["quantity"].astype(float).abs()
    entries = (quantity * trades["entry_price"].astype(float)).sum()
    exits = (quantity * trades["exit_price"].astype(float)).fillna(0.0).sum()
    traded = float(entries + exits)
    years = len(equity) / TRADING_DAYS
    mean_value = float(equity.mean()) if len(equity) else 0.0
    annual = traded / 2.0 / mean_value / years if years > 0 and mean_value > 0 else None
    return {"traded_value": round(traded, 2), "annual_turnover": _number(annual)}


def extended_metrics(data: ReportData) -> dict[str, Any]:
    """Everything the tear sheet adds to the data model's metrics (JSON-ready; undefined values are null)."""
    returns = daily_returns(data)
    equity = equity_by_day(data)
    if returns.empty:
        return {}
    bench = benchmark_returns(data, returns.index)
    total = float((1 + returns).prod() - 1)
    bench_total = float((1 + bench).prod() - 1) if bench is not None else None
    exposure = exposure_frame(data)
    trades = data.trades
    holding = _holding_days(trades)
    commission = float(trades["commission"].astype(float).sum()) if len(trades) else 0.0
    slippage = float(trades["slippage"].astype(float).sum()) if len(trades) else 0.0
    return {
        "ratios": {
            "calmar_ratio": _number(empyrical.calmar_ratio(returns, period="daily")),
            "information_ratio": _number(empyrical.excess_sharpe(returns, bench) * math.sqrt(TRADING_DAYS))
            if bench is not None
            else None,
            "excess_return": None if bench_total is None else _number(total - bench_total),
            "skew": _number(returns.skew()),
            "kurtosis": _number(returns.kurtosis()),
            "daily_var_95": _number(empyrical.value_at_risk(returns, cutoff=VAR_CUTOFF)),
            "daily_cvar_95": _number(empyrical.conditional_value_at_risk(returns, cutoff=VAR_CUTOFF)),
        },
        "exposure": {
            "time_in_market": _number((exposure["gross_leverage"] > 0).mean()) if len(exposure) else None,
            "average_gross_leverage": _number(exposure["gross_leverage"].mean()) if len(exposure) else None,
            "max_gross_leverage": _number(exposure["gross_leverage"].max()) if len(exposure) else None,
            "average_net_exposure": _number(exposure["net_exposure"].mean()) if len(exposure) else None,
            "dates": [d.strftime("%Y-%m-%d") for d in pd.DatetimeIndex(exposure.index)],
            "gross_leverage": [round(float(v), 6) for v in exposure["gross_leverage"].fillna(0.0)],
            "net_exposure": [round(float(v), 6) for v in exposure["net_exposure"].fillna(0.0)],
        },
        "costs": {
            "commission": round(commission, 2),
            "slippage": round(slippage, 2),
            "total": round(commission + slippage, 2),
        },
        "turnover": _turnover(trades, equity) if len(trades) else {"traded_value": 0.0, "annual_turnover": 0.0},
        "average_holding_days": _number(holding.mean()) if len(holding) else None,
        "worst_drawdowns": [d.as_dict() for d in worst_drawdowns(equity)],
        "yearly_returns": yearly_returns(returns, bench),
        "by_instrument": by_instrument(trades) if len(trades) else [],
    }
