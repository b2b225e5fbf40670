"""The data model's metrics JSON, exactly: returns, risk, trading, benchmark (fractions: 0.15 is 15%).

Every key is present. A value is null only where it is undefined: no winning or losing trade
(avg_win, avg_loss, profit_factor), no downside (sortino_ratio), no variance (sharpe_ratio), no
benchmark data.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number (or null where the metric is undefined)")
        return value


class ReturnMetrics(_Group):
    total_return: float
    cagr: float
    annualized_return: float


class RiskMetrics(_Group):
    max_drawdown: float = Field(le=0, description="negative fraction")
    sharpe_ratio: float | None = Field(description="null when returns have no variance")
    sortino_ratio: float | None
    volatility: float = Field(ge=0)


class TradingMetrics(_Group):
    win_rate: float = Field(ge=0, le=1)
    avg_win: float | None
    avg_loss: float | None
    profit_factor: float | None
    expectancy: float


class BenchmarkMetrics(_Group):
    benchmark_return: float | None
    alpha: float | None
    beta: float | None


class PerformanceMetrics(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    returns: ReturnMetrics
    risk: RiskMetrics
    trading: TradingMetrics
    benchmark: BenchmarkMetrics
