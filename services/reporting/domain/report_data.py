"""Everything one report shows, gathered before rendering (the repository fills it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

import pandas as pd

TRADE_COLUMNS = [
    "instrument_id",
    "side",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "quantity",
    "commission",
    "slippage",
    "pnl",
    "pnl_pct",
]
# Every time a report prints (trades, snapshots, generated_at) is in this zone, and says so.
TIME_ZONE = "UTC"
PORTFOLIO_COLUMNS = ["timestamp", "cash_balance", "total_value", "margin_used", "buying_power", "positions"]


@dataclass
class ReportData:
    backtest_id: UUID
    status: str
    configuration: dict[str, Any]  # strategy, parameters, dates, capital, commission model, data source, ...
    metrics: dict[str, dict[str, float | None]] | None
    trades: pd.DataFrame  # TRADE_COLUMNS
    daily: pd.DataFrame  # PORTFOLIO_COLUMNS, end-of-day snapshots
    prices: dict[str, pd.Series] = field(default_factory=dict)  # closes per instrument, for trade markers
    benchmark: pd.Series | None = None  # benchmark closes on the same days
    error_message: str | None = None
    warnings: list[str] = field(default_factory=list)
    started_at: Any = None
    completed_at: Any = None
    open_pnl: Decimal = Decimal(0)  # trades still open at the end, marked at the last known price
    benchmark_instrument_id: str | None = None  # what benchmark_symbol resolved to
    timeframe: str = "BAR_DAILY"  # the bars the strategy ran on

    @property
    def trades_count(self) -> int:
        """Closed round trips (what win rate, average win/loss and expectancy are over)."""
        return int(self.trades["exit_time"].notna().sum()) if "exit_time" in self.trades else 0

    @property
    def open_trades(self) -> int:
        return len(self.trades) - self.trades_count

    def __post_init__(self) -> None:
        # a run without trades (or snapshots) has no rows to name the columns: the reports still need them
        self.trades = self.trades.reindex(columns=TRADE_COLUMNS)
        self.daily = self.daily.reindex(columns=PORTFOLIO_COLUMNS)

    @property
    def equity(self) -> pd.Series:
        return self.daily.set_index("timestamp")["total_value"].astype(float)
