"""A Nautilus strategy that turns a per-instrument target (+1 long, -1 short, 0 flat) into orders,
sized by the seed's rules:

- entry size = position_size_pct of equity, rounded down to the lot size;
- no single position above 10% of portfolio value when it is opened (prices move afterwards;
  positions are not trimmed);
- total margin (|quantity| x price x margin requirement) at most 3x the account value: entries are
  sized to stay within it, and a margin call closes whole positions when prices push the book over it
  (services.engine.domain.margin).

Orders are market orders; with bar execution Nautilus fills them at the close of the bar that
produced the signal (plus slippage), and bars reach the strategy stamped at their close, so a
signal never fills at a price from before it was known.

Bars that share a timestamp (daily bars of several instruments) reach `on_bar` one at a time, in the
order their data was added to the engine (a stable sort by ts_init). The strategy records each bar's
signal as it comes, and acts once the timestamp's last bar is in: exits, then the margin check, then
entries, each in instrument-id order, with every instrument marked at its close of that timestamp. So
a decision never depends on the order of the instruments in the request, and the portfolio the
strategy sizes against is the one the ledger stores for that timestamp. The orders still fill at the
close of the signal's own bar: each instrument's matching engine has processed its bar of that
timestamp before the orders reach it, and nothing of a later timestamp has arrived.

The strategy keeps its own book the way the ledger does (cash moves by quantity x price and
commission at each fill, positions are marked at their last close), and books each order at its
expected fill price (close -/+ slippage) and commission from the moment it is submitted until its
fill arrives, so equity and margin are right in the middle of a timestamp's orders too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId, Venue
from nautilus_trader.model.objects import Currency, Quantity
from nautilus_trader.trading.strategy import Strategy

from services.engine.domain.errors import RunCancelled
from services.engine.domain.fees import commission
from services.engine.domain.margin import Exposure, positions_to_close, within_leverage
from shared.models.backtest import CANCELLED_BY_USER


class SignalConfig(StrategyConfig, frozen=True):  # type: ignore[misc,call-arg]
    bar_types: list[str]
    parameters: dict[str, Any]
    position_size_pct: float = 1.0
    max_position_pct: float = 10.0
    max_leverage: float = 3.0
    margin_pct: dict[str, float] | None = None  # per Nautilus instrument id, percent
    lot_sizes: dict[str, int] | None = None
    slippage_per_share: dict[str, float] | None = None  # ticks x tick size: sizes use the expected fill price
    # The request's commission model (services.engine.domain.fees), so that entries and margin calls count
    # their own costs; None: no commission.
    commission_kind: str | None = None
    commission_params: dict[str, str] | None = None
    currency: str = "USD"
    venue: str = "SIM"


@dataclass(frozen=True)
class MarginCall:
    ts: int  # ns since the epoch (UTC): the timestamp whose closes pushed the book over the cap
    closed: tuple[str, ...]  # Nautilus instrument ids, in the order they were closed
    margin_used: Decimal  # before the call
    account_value: Decimal


@dataclass
class _InFlight:
    """A submitted order not filled yet, booked at its expected fill."""

    instrument_id: InstrumentId
    signed_quantity: int
    price: Decimal
    commission: Decimal


class TimestampGroups:
    """How many bars share each timestamp, so the strategy knows when a timestamp's last bar is in.

    `size` when every timestamp has the same number of bars (one instrument, or instruments with the
    same sessions and no gaps); otherwise the sorted distinct timestamps and their bar counts.
    """

    def __init__(self, size: int = 1, timestamps: list[int] | None = None, counts: list[int] | None = None) -> None:
        self._timestamps, self._counts = timestamps, counts
        self._cursor = 0
        self._ts = -1
        self._size = size
        self._seen = 0

    def complete(self, ts: int) -> bool:
        """Count a bar stamped `ts` (bars arrive in time order); True for the last bar of its timestamp."""
        if ts != self._ts:
            self._ts, self._seen = ts, 0
            if self._timestamps is not None and self._counts is not None:
                stamps, cursor = self._timestamps, self._cursor
                while cursor < len(stamps) and stamps[cursor] < ts:
                    cursor += 1
                if cursor == len(stamps) or stamps[cursor] != ts:
                    raise RuntimeError(f"a bar stamped {ts} that the run was not given")
                self._cursor = cursor
                self._size = self._counts[self._cursor]
        self._seen += 1
        return self._seen == self._size


class SignalStrategy(Strategy):  # type: ignore[misc]
    """Subclasses implement `target(instrument_id, bar) -> int | None` (None: keep what you have)."""

    def __init__(self, config: SignalConfig) -> None:
        super().__init__(config)
        self.params = dict(config.parameters)
        self.allow_short = bool(self.params.get("allow_short", False))
        self.bars_seen = 0
        self.stop_requested = False  # set by RunTracker.cancel from the event loop's thread
        self.signals = 0
        self.skipped_entries = 0
        self.last_close: dict[InstrumentId, Decimal] = {}
        self.positions_qty: dict[InstrumentId, int] = {}  # including submitted orders not filled yet
        self.closes: dict[InstrumentId, deque[float]] = {}  # the last `window()` closes per instrument
        self.side: dict[InstrumentId, int] = {}  # the strategy's own view: +1 long, -1 short, 0 flat
        self.cash = Decimal(0)  # the ledger's cash: initial capital - sum(signed quantity x price + commission)
        self.margin_calls: list[MarginCall] = []
        self.submission_order: dict[str, int] = {}  # client order id -> n-th order submitted
        self.groups = TimestampGroups()
        self._in_flight: dict[ClientOrderId, _InFlight] = {}
        self._wanted: dict[InstrumentId, int] = {}  # this timestamp's signals
        self._margins: dict[InstrumentId, Decimal] = {}
        self._slippages: dict[InstrumentId, Decimal] = {}
        self._commission_params = {k: Decimal(v) for k, v in (config.commission_params or {}).items()}
        self._leverage = Decimal(str(config.max_leverage))
        # Float copies for the quick margin check of every timestamp (_clearly_within_cap).
        self._leverage_float = float(config.max_leverage)
        self._cash_float = 0.0
        self._close_floats: dict[InstrumentId, float] = {}
        self._margin_floats: dict[InstrumentId, float] = {}

    # -- to implement ------------------------------------------------------------------------------
    def window(self) -> int:
        """How many closes the signal needs."""
        raise NotImplementedError

    def target(self, instrument_id: InstrumentId, bar: Bar) -> int | None:
        raise NotImplementedError

    def full_window(self, instrument_id: InstrumentId, bar: Bar) -> deque[float] | None:
        """Record the bar's close; the closes once there are `window()` of them, else None."""
        closes = self.closes[instrument_id]
        closes.append(float(bar.close))
        return closes if len(closes) == closes.maxlen else None

    # -- Nautilus callbacks ------------------------------------------------------------------------
    def on_start(self) -> None:
        account = self.portfolio.account(Venue(self.config.venue))
        if account is not None:  # the starting balance: nothing is held yet
            self.cash = account.balance_total(Currency.from_str(self.config.currency)).as_decimal()
            self._cash_float = float(self.cash)
        for text in self.config.bar_types:
            bar_type = BarType.from_str(text)
            self.closes[bar_type.instrument_id] = deque(maxlen=self.window())
            self.side[bar_type.instrument_id] = 0
            self.subscribe_bars(bar_type)

    def on_bar(self, bar: Bar) -> None:
        if self.stop_requested:
            raise RunCancelled(CANCELLED_BY_USER)
        self.bars_seen += 1
        iid = bar.bar_type.instrument_id
        close = bar.close
        self.last_close[iid] = close.as_decimal()
        self._close_floats[iid] = close.as_double()
        wanted = self.target(iid, bar)
        if wanted is not None:
            self._wanted[iid] = wanted if wanted >= 0 or self.allow_short else 0
        if self.groups.complete(bar.ts_init):
            self._act(bar.ts_init)

    def on_order_filled(self, event: Any) -> None:
        quantity = event.last_qty.as_decimal()
        signed = quantity if event.order_side == OrderSide.BUY else -quantity
        self.cash -= signed * event.last_px.as_decimal() + event.commission.as_decimal()
        self._cash_float = float(self.cash)
        flight = self._in_flight.get(event.client_order_id)
        if flight is not None:
            flight.signed_quantity -= int(signed)
            flight.commission = Decimal(0)
            if flight.signed_quantity == 0:
                del self._in_flight[event.client_order_id]

    def on_order_denied(self, event: Any) -> None:
        self._dropped(event.client_order_id)

    def on_order_rejected(self, event: Any) -> None:
        self._dropped(event.client_order_id)

    def _dropped(self, client_order_id: ClientOrderId) -> None:
        """An order that will not fill: what the book expected of it is undone."""
        flight = self._in_flight.pop(client_order_id, None)
        if flight is not None:
            self.positions_qty[flight.instrument_id] -= flight.signed_quantity

    # -- one timestamp's decisions -----------------------------------------------------------------
    def _act(self, ts: int) -> None:
        entries: list[tuple[InstrumentId, int]] = []
        if self._wanted:
            wanted, self._wanted = self._wanted, {}
            for iid in sorted(wanted, key=str) if len(wanted) > 1 else wanted:
                side = wanted[iid]
                held = self.positions_qty.get(iid, 0)
                if side == (held > 0) - (held < 0):
                    continue
                if held != 0:
                    self._close(iid)
                if side != 0:
                    entries.append((iid, side))
        if any(self.positions_qty.values()) and not self._clearly_within_cap():
            self._margin_call(ts)
        for iid, side in entries:
            self.signals += 1
            quantity = self.entry_quantity(iid, self.last_close[iid])
            if quantity <= 0:
                self.skipped_entries += 1
                continue
            self._submit(iid, OrderSide.BUY if side > 0 else OrderSide.SELL, quantity)

    def _clearly_within_cap(self) -> bool:
        """Most timestamps are far from the cap: floats settle them without the exact Decimal check (their
        error is ~1e-12 of the values; the band, 0.01% of the cap, also covers the cent rounding of the check
        once the account value is above 100)."""
        if self._in_flight:
            return False
        margin = value = 0.0
        for iid, quantity in self.positions_qty.items():
            if quantity:
                close = self._close_floats[iid]
                margin += abs(quantity) * close * self._margin_float(iid)
                value += quantity * close
        value += self._cash_float
        return value > 100.0 and margin <= 0.9999 * self._leverage_float * value

    def _margin_call(self, ts: int) -> None:
        """Close whole positions if this timestamp's closes put margin above the cap (see margin.py)."""
        margin, equity = self.margin_used(), self.equity()
        if within_leverage(margin, equity, self._leverage):
            return
        held = {str(i): i for i, q in self.positions_qty.items() if q}
        exposures = []
        for key, iid in held.items():
            quantity = abs(self.positions_qty[iid])
            close, slip = self.last_close[iid], self._slippage(iid)
            fill = close - slip if self.positions_qty[iid] > 0 else close + slip
            exposures.append(
                Exposure(key, quantity * close * self._margin(iid), quantity * slip + self._commission(quantity, fill))
            )
        closed = positions_to_close(exposures, margin, equity, self._leverage)
        for key in closed:
            self._close(held[key])
        self.margin_calls.append(MarginCall(ts, tuple(closed), margin, equity))
        self.log.warning(
            f"margin call: margin {margin:.2f} > {self._leverage} x account value {equity:.2f}; "
            f"closed {', '.join(closed)}"
        )

    # -- the book ----------------------------------------------------------------------------------
    def equity(self) -> Decimal:
        """Cash (submitted orders at their expected fills) plus the open positions marked at their last close."""
        cash = self.cash - sum(
            (f.signed_quantity * f.price + f.commission for f in self._in_flight.values()), Decimal(0)
        )
        return cash + sum((q * self.last_close[i] for i, q in self.positions_qty.items() if q), Decimal(0))

    def margin_used(self) -> Decimal:
        return sum(
            (abs(Decimal(q)) * self.last_close[i] * self._margin(i) for i, q in self.positions_qty.items() if q),
            Decimal(0),
        )

    def _margin(self, iid: InstrumentId) -> Decimal:
        margin = self._margins.get(iid)
        if margin is None:
            margin = self._margins[iid] = Decimal(str((self.config.margin_pct or {}).get(str(iid), 100.0))) / 100
        return margin

    def _margin_float(self, iid: InstrumentId) -> float:
        margin = self._margin_floats.get(iid)
        if margin is None:
            margin = self._margin_floats[iid] = float(self._margin(iid))
        return margin

    def _slippage(self, iid: InstrumentId) -> Decimal:
        slip = self._slippages.get(iid)
        if slip is None:
            slip = self._slippages[iid] = Decimal(str((self.config.slippage_per_share or {}).get(str(iid), 0.0)))
        return slip

    def _commission(self, quantity: int | Decimal, price: Decimal) -> Decimal:
        if self.config.commission_kind is None or quantity <= 0:
            return Decimal(0)
        return commission(self.config.commission_kind, Decimal(quantity), price, self._commission_params)

    # -- sizing ------------------------------------------------------------------------------------
    def entry_quantity(self, iid: InstrumentId, price: Decimal) -> int:
        """Shares to open at `price` (the close): position_size_pct and 10% of equity at the expected fill
        price (close + slippage), and total margin at most 3x the account value once the entry and its own
        costs (slippage and commission lower the account value) are booked, to the cent as stored."""
        slip = self._slippage(iid)
        fill = price + slip
        equity = self.equity()
        if equity <= 0 or fill <= 0:
            return 0
        lot = Decimal((self.config.lot_sizes or {}).get(str(iid), 1))
        size_cap = equity * Decimal(str(self.config.position_size_pct)) / 100
        position_cap = equity * Decimal(str(self.config.max_position_pct)) / 100
        lots = (min(size_cap, position_cap) / fill / lot).to_integral_value(rounding=ROUND_FLOOR)
        margin, requirement = self.margin_used(), self._margin(iid)
        # Each share adds price x requirement of margin and takes slippage off the account value, which
        # counts leverage times against the room; the commission too (at most that of the larger size).
        per_share = price * requirement + self._leverage * slip
        if per_share > 0:
            room = equity * self._leverage - margin - self._leverage * self._commission(lots * lot, fill)
            lots = min(lots, (room / per_share / lot).to_integral_value(rounding=ROUND_FLOOR))

        def fits(n: Decimal) -> bool:
            quantity = n * lot
            after = equity - quantity * slip - self._commission(quantity, fill)
            return within_leverage(margin + quantity * price * requirement, after, self._leverage)

        while lots > 0 and not fits(lots):  # a minimum commission or the cent rounding can still tip it
            lots -= 1
        return int(max(lots, Decimal(0)) * lot)

    def _close(self, iid: InstrumentId) -> None:
        held = self.positions_qty[iid]
        self._submit(iid, OrderSide.SELL if held > 0 else OrderSide.BUY, abs(held))

    def _submit(self, iid: InstrumentId, side: OrderSide, quantity: int) -> None:
        order = self.order_factory.market(iid, side, Quantity.from_int(quantity))
        buy = side == OrderSide.BUY
        slip = self._slippage(iid)
        price = self.last_close[iid] + (slip if buy else -slip)
        signed = quantity if buy else -quantity
        self._in_flight[order.client_order_id] = _InFlight(iid, signed, price, self._commission(quantity, price))
        self.positions_qty[iid] = self.positions_qty.get(iid, 0) + signed
        self.submission_order[order.client_order_id.value] = len(self.submission_order)
        self.submit_order(order)
