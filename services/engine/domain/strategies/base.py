"""The Nautilus adapter: it feeds each instrument's bars to its SDK strategy (bts_sdk.Strategy, one instance
per instrument) and turns the targets they return (+1 long, -1 short, 0 flat) into orders, sized by the
data model's rules (services.engine.domain.sizing) against the strategy's own book (services.engine.domain.book):

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
order their data was added to the engine (a stable sort by ts_init). The adapter records each bar's
signal as it comes, and acts once the timestamp's last bar is in: exits, then the margin check, then
entries, each in instrument-id order, with every instrument marked at its close of that timestamp. So
a decision never depends on the order of the instruments in the request, and the portfolio the
strategy sizes against is the one the ledger stores for that timestamp. The orders still fill at the
close of the signal's own bar: each instrument's matching engine has processed its bar of that
timestamp before the orders reach it, and nothing of a later timestamp has arrived.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId, PositionId, Venue
from nautilus_trader.model.objects import Currency, Quantity
from nautilus_trader.trading.strategy import Strategy

import bts_sdk
from services.engine.domain.book import Book, InstrumentTerms
from services.engine.domain.errors import RunCancelled, RunError
from services.engine.domain.fees import commission
from services.engine.domain.sizing import SizingRules, entry_quantity
from shared.contracts.models.backtest import CANCELLED_BY_USER


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
    # Warm-up (walk-forward out-of-sample windows): bars stamped before this time (ns since the epoch, UTC)
    # feed the indicators but are never traded on; None: every bar may trade. See docs/engine.md, "Warm-up".
    trade_from_ns: int | None = None


@dataclass(frozen=True)
class MarginCall:
    ts: int  # ns since the epoch (UTC): the timestamp whose closes pushed the book over the cap
    closed: tuple[str, ...]  # Nautilus instrument ids, in the order they were closed
    margin_used: Decimal  # before the call
    account_value: Decimal


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
    """Runs one SDK strategy per instrument on NautilusTrader; `make_strategy` makes each one (typed parameters)."""

    def __init__(self, config: SignalConfig, make_strategy: Callable[[], bts_sdk.Strategy[Any]]) -> None:
        super().__init__(config)
        self.make_strategy = make_strategy
        self.allow_short = bool(config.parameters.get("allow_short", False))
        self.bars_seen = 0
        self.stop_requested = False  # set by RunTracker.cancel from the event loop's thread
        self.signals = 0
        self.skipped_entries = 0
        self.margin_calls: list[MarginCall] = []
        self.submission_order: dict[str, int] = {}  # client order id -> n-th order submitted
        self.groups = TimestampGroups()
        self.book = Book(_terms(config), _commission(config), Decimal(str(config.max_leverage)))
        self.rules = SizingRules(Decimal(str(config.position_size_pct)), Decimal(str(config.max_position_pct)))
        self.strategies: dict[InstrumentId, bts_sdk.Strategy[Any]] = {}
        self._ids: dict[str, InstrumentId] = {}
        self._wanted: dict[str, int] = {}  # this timestamp's signals

    # -- Nautilus callbacks ------------------------------------------------------------------------
    def on_start(self) -> None:
        account = self.portfolio.account(Venue(self.config.venue))
        if account is not None:  # the starting balance: nothing is held yet
            self.book.set_cash(account.balance_total(Currency.from_str(self.config.currency)).as_decimal())
        for text in self.config.bar_types:
            bar_type = BarType.from_str(text)
            iid = bar_type.instrument_id
            self.strategies[iid] = self.make_strategy()
            self._ids[iid.value] = iid
            self.subscribe_bars(bar_type)

    def on_bar(self, bar: Bar) -> None:
        if self.stop_requested:
            raise RunCancelled(CANCELLED_BY_USER)
        self.bars_seen += 1
        iid = bar.bar_type.instrument_id
        key = iid.value
        close = bar.close
        close_float = close.as_double()
        self.book.mark(key, close.as_decimal(), close_float)
        wanted = self.strategies[iid].on_bar(
            bts_sdk.Bar(
                bar.ts_init,
                bar.open.as_double(),
                bar.high.as_double(),
                bar.low.as_double(),
                close_float,
                bar.volume.as_double(),
            )
        )
        warming = self.config.trade_from_ns is not None and bar.ts_init < self.config.trade_from_ns
        if wanted is not None and not warming:  # a warm-up bar's signal is dropped: no trade before the window
            self._wanted[key] = wanted if wanted >= 0 or self.allow_short else 0
        if self.groups.complete(bar.ts_init) and not warming:
            self._act(bar.ts_init)

    def on_order_filled(self, event: Any) -> None:
        quantity = event.last_qty.as_decimal()
        signed = quantity if event.order_side == OrderSide.BUY else -quantity
        self.book.filled(event.client_order_id.value, signed, event.last_px.as_decimal(), event.commission.as_decimal())

    def on_order_denied(self, event: Any) -> None:
        self.book.dropped(event.client_order_id.value)

    def on_order_rejected(self, event: Any) -> None:
        self.book.dropped(event.client_order_id.value)

    # -- one timestamp's decisions -----------------------------------------------------------------
    def _act(self, ts: int) -> None:
        book = self.book
        entries: list[tuple[str, int]] = []
        if self._wanted:
            wanted, self._wanted = self._wanted, {}
            for key in sorted(wanted) if len(wanted) > 1 else wanted:
                side = wanted[key]
                held = book.positions.get(key, 0)
                if side == (held > 0) - (held < 0):
                    continue
                if held != 0:
                    self._close(key)
                if side != 0:
                    entries.append((key, side))
        if any(book.positions.values()) and not book.clearly_within_cap():
            self._margin_call(ts)
        for key, side in entries:
            self.signals += 1
            quantity = entry_quantity(book, key, book.last_close[key], self.rules)
            if quantity <= 0:
                self.skipped_entries += 1
                continue
            self._submit(key, quantity if side > 0 else -quantity)

    def _margin_call(self, ts: int) -> None:
        decision = self.book.margin_call()
        if decision is None:
            return
        for key in decision.closed:
            self._close(key)
        call = MarginCall(ts, tuple(decision.closed), decision.margin_used, decision.account_value)
        self.margin_calls.append(call)
        self.log.warning(
            f"margin call: margin {call.margin_used:.2f} > {self.book.leverage} x account value "
            f"{call.account_value:.2f}; closed {', '.join(call.closed)}"
        )

    def _close(self, key: str) -> None:
        """Close the instrument's position: the order names it (the venue is HEDGING, see runner.run_backtest),
        otherwise it would open an opposite one."""
        found = self.cache.positions_open(instrument_id=self._ids[key], strategy_id=self.id)
        if len(found) != 1:  # the book opens from flat only: one position per instrument at most
            raise RunError(f"{key}: expected one open position to close, found {len(found)}")
        self._submit(key, -self.book.positions[key], found[0].id)

    def _submit(self, key: str, signed_quantity: int, position_id: PositionId | None = None) -> None:
        side = OrderSide.BUY if signed_quantity > 0 else OrderSide.SELL
        order = self.order_factory.market(self._ids[key], side, Quantity.from_int(abs(signed_quantity)))
        order_id = order.client_order_id.value
        self.book.submitted(order_id, key, signed_quantity)
        self.submission_order[order_id] = len(self.submission_order)
        self.submit_order(order, position_id=position_id)


def _terms(config: SignalConfig) -> dict[str, InstrumentTerms]:
    """Each instrument's margin requirement, slippage and lot size, from the run's configuration."""
    margins, slips, lots = config.margin_pct or {}, config.slippage_per_share or {}, config.lot_sizes or {}
    keys = [BarType.from_str(t).instrument_id.value for t in config.bar_types]
    return {
        key: InstrumentTerms(
            margin=Decimal(str(margins.get(key, 100.0))) / 100,
            slippage=Decimal(str(slips.get(key, 0.0))),
            lot=lots.get(key, 1),
        )
        for key in keys
    }


def _commission(config: SignalConfig) -> Callable[[Decimal, Decimal], Decimal] | None:
    """The request's commission model (services.engine.domain.fees), so that entries and margin calls count
    their own costs; None: no commission."""
    kind = config.commission_kind
    if kind is None:
        return None
    params = {k: Decimal(v) for k, v in (config.commission_params or {}).items()}
    return lambda quantity, price: commission(kind, quantity, price, params)
