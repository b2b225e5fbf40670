"""From fills and closing prices to the seed's trades and portfolio snapshots (pure, Decimal).

Cash moves by quantity x price and commission at each fill; the portfolio's total value is cash
plus every position marked at its last price (the seed's "total value = cash + sum(position
values)"). Margin used is |quantity| x price x the instrument's margin requirement; the capacity is
total value x leverage (3), and buying power what is left of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd

from services.engine.domain.runner import Fill

CENT = Decimal("0.01")
LEVERAGE = Decimal(3)


@dataclass
class TradeRecord:
    instrument_id: str
    side: str  # LONG / SHORT
    entry_time: pd.Timestamp
    entry_price: Decimal
    quantity: int
    commission: Decimal
    slippage: Decimal
    exit_time: pd.Timestamp | None = None
    exit_price: Decimal | None = None
    pnl: Decimal | None = None
    pnl_pct: Decimal | None = None

    def close(self, fill: Fill) -> None:
        self.exit_time, self.exit_price = fill.ts, fill.price
        self.commission += fill.commission
        self.slippage += fill.slippage
        direction = 1 if self.side == "LONG" else -1
        gross = (fill.price - self.entry_price) * self.quantity * direction
        self.pnl = (gross - self.commission).quantize(CENT, ROUND_HALF_EVEN)
        self.pnl_pct = (self.pnl / (self.entry_price * self.quantity) * 100).quantize(
            Decimal("0.0001"), ROUND_HALF_EVEN
        )


@dataclass(frozen=True)
class Holding:
    instrument_id: str
    quantity: int
    avg_price: Decimal
    market_price: Decimal

    @property
    def market_value(self) -> Decimal:
        return self.quantity * self.market_price


@dataclass(frozen=True)
class Snapshot:
    timestamp: pd.Timestamp
    kind: str  # TRADE / DAILY
    cash_balance: Decimal
    positions: tuple[Holding, ...]
    total_value: Decimal
    margin_used: Decimal
    buying_power: Decimal


@dataclass
class Ledger:
    initial_capital: Decimal
    margin_pct: dict[str, Decimal]
    cash: Decimal = Decimal(0)
    quantities: dict[str, int] = field(default_factory=dict)
    avg_prices: dict[str, Decimal] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)
    open_trades: dict[str, TradeRecord] = field(default_factory=dict)
    trades: list[TradeRecord] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cash = self.initial_capital

    def apply(self, fill: Fill) -> None:
        signed = fill.quantity if fill.side == "BUY" else -fill.quantity
        held = self.quantities.get(fill.instrument_id, 0)
        self.cash -= signed * fill.price + fill.commission
        self.prices[fill.instrument_id] = fill.price
        trade = self.open_trades.get(fill.instrument_id)
        if held == 0:
            trade = TradeRecord(fill.instrument_id, "LONG" if signed > 0 else "SHORT", fill.ts, fill.price,
                                fill.quantity, fill.commission, fill.slippage)  # fmt: skip
            self.open_trades[fill.instrument_id] = trade
            self.trades.append(trade)
            self.avg_prices[fill.instrument_id] = fill.price
        elif trade is not None and held + signed == 0:
            trade.close(fill)
            del self.open_trades[fill.instrument_id]
        else:  # the strategies only open from flat and close fully; anything else is a bug to see
            raise ValueError(f"unexpected fill {fill} with position {held} in {fill.instrument_id}")
        self.quantities[fill.instrument_id] = held + signed
        self.snapshots.append(self.snapshot(fill.ts, "TRADE"))

    def mark(self, closes: dict[str, Decimal]) -> None:
        self.prices.update(closes)

    def snapshot(self, ts: pd.Timestamp, kind: str) -> Snapshot:
        holdings = tuple(
            Holding(i, q, self.avg_prices[i], self.prices[i]) for i, q in sorted(self.quantities.items()) if q
        )
        total = self.cash + sum((h.market_value for h in holdings), Decimal(0))
        margin = sum(
            (abs(h.quantity) * h.market_price * self.margin_pct.get(h.instrument_id, Decimal(100)) / 100
             for h in holdings),
            Decimal(0),
        )  # fmt: skip
        return Snapshot(
            timestamp=ts,
            kind=kind,
            cash_balance=self.cash.quantize(CENT, ROUND_HALF_EVEN),
            positions=holdings,
            total_value=total.quantize(CENT, ROUND_HALF_EVEN),
            margin_used=margin.quantize(CENT, ROUND_HALF_EVEN),
            buying_power=max(Decimal(0), total * LEVERAGE - margin).quantize(CENT, ROUND_HALF_EVEN),
        )


def build_ledger(
    fills: Iterable[Fill],
    daily_closes: pd.DataFrame,
    initial_capital: Decimal,
    margin_pct: dict[str, Decimal],
) -> Ledger:
    """`daily_closes`: index = end-of-day timestamps (UTC), one column of closes per instrument.

    Fills and end-of-day marks are merged in time order; a fill at a session's close comes before
    that day's snapshot, so the daily value includes it.
    """
    ledger = Ledger(initial_capital=initial_capital, margin_pct=margin_pct)
    pending = sorted(fills, key=lambda f: f.ts)
    position = 0
    columns = [str(c) for c in daily_closes.columns]
    values = daily_closes.to_numpy(dtype=float)  # plain rows: iterrows would build a Series per day
    for ts, row in zip(pd.DatetimeIndex(daily_closes.index), values, strict=True):
        while position < len(pending) and pending[position].ts <= ts:
            ledger.apply(pending[position])
            position += 1
        ledger.mark({c: Decimal(repr(float(v))) for c, v in zip(columns, row, strict=True) if not math.isnan(v)})
        ledger.snapshots.append(ledger.snapshot(ts, "DAILY"))
    for fill in pending[position:]:
        ledger.apply(fill)
    return ledger


def equity_curve(ledger: Ledger) -> pd.Series:
    daily = [s for s in ledger.snapshots if s.kind == "DAILY"]
    return pd.Series([float(s.total_value) for s in daily], index=pd.DatetimeIndex([s.timestamp for s in daily]))
