"""From fills and closing prices to the data model's trades and portfolio snapshots (pure, Decimal).

Cash moves by quantity x price and commission at each fill; the portfolio's total value is cash
plus every position marked at its price (the data model's "total value = cash + sum(position values)").
Margin used is |quantity| x price x the instrument's margin requirement; the capacity is total
value x leverage (3), and buying power what is left of it.

A snapshot marks every position at the last close known at its time: the close of the
instrument's latest bar stamped at or before it (a position just opened is worth its close, not
what was paid for it; the slippage shows as a cost at once). The fills of one timestamp are one
trade event: they are applied in the order they were submitted, and one TRADE snapshot is taken
after the last of them. The strategy decides on the same marks once all of a timestamp's bars are
in (services.engine.domain.book), so its margin checks hold for what is stored here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import groupby

import pandas as pd

from services.engine.domain.errors import RunError
from services.engine.domain.margin import CENT, LEVERAGE, within_leverage
from services.engine.domain.runner import Fill


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

    def marked_pnl(self, price: Decimal) -> Decimal:
        """P&L of this open trade marked at `price`, net of the commission paid so far (the entry's), in cents:
        what it adds to the portfolio's value beyond its cost, so that total value - initial capital is the
        closed trades' P&L plus their open ones'."""
        direction = 1 if self.side == "LONG" else -1
        return ((price - self.entry_price) * self.quantity * direction - self.commission).quantize(
            CENT, ROUND_HALF_EVEN
        )

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
    sink: Callable[[list[Snapshot]], None] | None = None
    batch: int = 256
    _sunk: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.cash = self.initial_capital

    def apply(self, fill: Fill) -> None:
        signed = fill.quantity if fill.side == "BUY" else -fill.quantity
        held = self.quantities.get(fill.instrument_id, 0)
        self.cash -= signed * fill.price + fill.commission
        self.prices[fill.instrument_id] = fill.price
        trade = self.open_trades.get(fill.instrument_id)
        if held == 0:
            trade = TradeRecord(
                fill.instrument_id,
                "LONG" if signed > 0 else "SHORT",
                fill.ts,
                fill.price,
                fill.quantity,
                fill.commission,
                fill.slippage,
            )
            self.open_trades[fill.instrument_id] = trade
            self.trades.append(trade)
            self.avg_prices[fill.instrument_id] = fill.price
        elif trade is not None and held + signed == 0:
            trade.close(fill)
            del self.open_trades[fill.instrument_id]
        else:  # the strategies only open from flat and close fully; anything else is a bug to see
            raise ValueError(f"unexpected fill {fill} with position {held} in {fill.instrument_id}")
        self.quantities[fill.instrument_id] = held + signed

    @property
    def closed_trades(self) -> list[TradeRecord]:
        """Round trips, entry to exit: what the trade statistics count."""
        return [t for t in self.trades if t.pnl is not None]

    def open_pnl(self) -> Decimal:
        """The trades still open, each marked at its instrument's last price (see TradeRecord.marked_pnl)."""
        return sum((t.marked_pnl(self.prices[i]) for i, t in self.open_trades.items()), Decimal(0))

    def mark(self, closes: dict[str, Decimal]) -> None:
        self.prices.update(closes)

    def mark_held(self, columns: dict[str, int], closes: list[float]) -> None:
        """Mark the instruments held at `closes` (`columns`: each instrument's place in it; NaN: no close yet).
        Only a held instrument's mark is read, and a fill marks an instrument when it is taken: converting the
        others' closes to Decimal every day would be wasted."""
        for instrument_id, quantity in self.quantities.items():
            close = closes[columns[instrument_id]]
            if quantity and close == close:  # close != close: NaN
                self.prices[instrument_id] = _decimal(close)

    def snapshot(self, ts: pd.Timestamp, kind: str) -> Snapshot:
        holdings = tuple(
            Holding(i, q, self.avg_prices[i], self.prices[i]) for i, q in sorted(self.quantities.items()) if q
        )
        total = self.cash + sum((h.market_value for h in holdings), Decimal(0))
        margin = sum(
            (
                abs(h.quantity) * h.market_price * self.margin_pct.get(h.instrument_id, Decimal(100)) / 100
                for h in holdings
            ),
            Decimal(0),
        )
        return Snapshot(
            timestamp=ts,
            kind=kind,
            cash_balance=self.cash.quantize(CENT, ROUND_HALF_EVEN),
            positions=holdings,
            total_value=total.quantize(CENT, ROUND_HALF_EVEN),
            margin_used=margin.quantize(CENT, ROUND_HALF_EVEN),
            buying_power=max(Decimal(0), total * LEVERAGE - margin).quantize(CENT, ROUND_HALF_EVEN),
        )

    def trade_event(self, fills: list[Fill], closes: dict[str, Decimal]) -> None:
        """The fills of one timestamp, in submission order, then one TRADE snapshot at the closes."""
        for fill in fills:
            self.apply(fill)
        self.mark(closes)
        self.record(self.snapshot(fills[-1].ts, "TRADE"))

    def record(self, snapshot: Snapshot) -> None:
        """Keep `snapshot`, and hand every `batch` new ones to the sink (the writer, while the rest is built)."""
        if not within_leverage(snapshot.margin_used, snapshot.total_value):
            raise MarginBreach(snapshot)
        self.snapshots.append(snapshot)
        if self.sink is not None and len(self.snapshots) - self._sunk >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.sink is not None and len(self.snapshots) > self._sunk:
            self.sink(self.snapshots[self._sunk :])
            self._sunk = len(self.snapshots)


class MarginBreach(RunError):
    """A snapshot no book can satisfy: margin above leverage x a total value that fell below zero (the margin
    calls close everything else first). The database would refuse it; the run fails saying why."""

    def __init__(self, snapshot: Snapshot) -> None:
        when = f"on {snapshot.timestamp:%Y-%m-%d %H:%M} UTC"
        if snapshot.total_value < 0:
            message = (
                f"{when} the account value fell below zero, to {snapshot.total_value} (margin in use "
                f"{snapshot.margin_used}): no book satisfies margin used <= 3 x total value then, not even "
                "with every position closed (a loss larger than the account in one bar)"
            )
        else:  # the strategy's margin calls keep every other book within the rule
            message = (
                f"{when} margin in use {snapshot.margin_used} is above 3 x the account value "
                f"{snapshot.total_value}, which a margin call should have prevented (a bug)"
            )
        super().__init__(message)
        self.snapshot = snapshot


def _decimal(close: float) -> Decimal:
    """A close as a Decimal: the text of the float, as the price was given."""
    return Decimal(repr(close))


def _marks(frame: pd.DataFrame) -> list[dict[str, Decimal]]:
    """Each row's closes as Decimals, NaN left out."""
    columns = [str(c) for c in frame.columns]
    return [
        {c: _decimal(v) for c, v in zip(columns, row, strict=True) if v == v}  # v != v: NaN
        for row in frame.to_numpy(dtype=float).tolist()
    ]


def build_ledger(
    fills: Iterable[Fill],
    daily_closes: pd.DataFrame,
    initial_capital: Decimal,
    margin_pct: dict[str, Decimal],
    closes: pd.DataFrame | None = None,
    sink: Callable[[list[Snapshot]], None] | None = None,
    batch: int = 256,
) -> Ledger:
    """`daily_closes`: index = end-of-day timestamps (UTC), one column of closes per instrument, each the
    last close at or before that time; `closes`: every bar's close the same way, indexed by bar close
    (default: `daily_closes`, as for daily bars), for the marks of the TRADE snapshots.

    Fills (in time order; those of one timestamp in submission order) and end-of-day marks are merged
    in time order; the fills at a session's close come before that day's snapshot, so the daily value
    includes them. `sink`, if given, receives the snapshots in order, `batch` at a time, as they are made.
    A snapshot above the margin rule raises MarginBreach before it is kept or handed on.
    """
    ledger = Ledger(initial_capital=initial_capital, margin_pct=margin_pct, sink=sink, batch=batch)
    events = [list(group) for _, group in groupby(sorted(fills, key=lambda f: f.ts), key=lambda f: f.ts)]
    marks = daily_closes if closes is None else closes
    at_fills = _marks(marks.sort_index().ffill().reindex(pd.DatetimeIndex([e[0].ts for e in events]), method="ffill"))
    position = 0
    columns = {str(c): n for n, c in enumerate(daily_closes.columns)}
    days = daily_closes.to_numpy(dtype=float).tolist()
    for ts, row in zip(pd.DatetimeIndex(daily_closes.index), days, strict=True):
        while position < len(events) and events[position][0].ts <= ts:
            ledger.trade_event(events[position], at_fills[position])
            position += 1
        ledger.mark_held(columns, row)
        ledger.record(ledger.snapshot(ts, "DAILY"))
    for index in range(position, len(events)):
        ledger.trade_event(events[index], at_fills[index])
    ledger.flush()
    return ledger


def equity_curve(ledger: Ledger) -> pd.Series:
    daily = [s for s in ledger.snapshots if s.kind == "DAILY"]
    return pd.Series([float(s.total_value) for s in daily], index=pd.DatetimeIndex([s.timestamp for s in daily]))
