"""A Nautilus strategy that turns a per-instrument target (+1 long, -1 short, 0 flat) into orders,
sized by the seed's rules:

- entry size = position_size_pct of equity, rounded down to the lot size;
- no single position above 10% of portfolio value when it is opened (prices move afterwards;
  positions are not trimmed);
- total margin (|quantity| x price x margin requirement) at most 3x the account value.

Orders are market orders; with bar execution Nautilus fills them at the close of the bar that
produced the signal (plus slippage), and bars reach the strategy stamped at their close, so a
signal never fills at a price from before it was known.
"""

from __future__ import annotations

from collections import deque
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Currency, Quantity
from nautilus_trader.trading.strategy import Strategy


class SignalConfig(StrategyConfig, frozen=True):  # type: ignore[misc,call-arg]
    bar_types: list[str]
    parameters: dict[str, Any]
    position_size_pct: float = 1.0
    max_position_pct: float = 10.0
    max_leverage: float = 3.0
    margin_pct: dict[str, float] | None = None  # per Nautilus instrument id, percent
    lot_sizes: dict[str, int] | None = None
    slippage_per_share: dict[str, float] | None = None  # ticks x tick size: sizes use the expected fill price
    currency: str = "USD"
    venue: str = "SIM"


class SignalStrategy(Strategy):  # type: ignore[misc]
    """Subclasses implement `target(instrument_id, bar) -> int | None` (None: keep what you have)."""

    def __init__(self, config: SignalConfig) -> None:
        super().__init__(config)
        self.params = dict(config.parameters)
        self.allow_short = bool(self.params.get("allow_short", False))
        self.bars_seen = 0
        self.signals = 0
        self.skipped_entries = 0
        self.last_close: dict[InstrumentId, Decimal] = {}
        self.positions_qty: dict[InstrumentId, int] = {}
        self.closes: dict[InstrumentId, deque[float]] = {}  # the last `window()` closes per instrument
        self.side: dict[InstrumentId, int] = {}  # the strategy's own view: +1 long, -1 short, 0 flat

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
        for text in self.config.bar_types:
            bar_type = BarType.from_str(text)
            self.closes[bar_type.instrument_id] = deque(maxlen=self.window())
            self.side[bar_type.instrument_id] = 0
            self.subscribe_bars(bar_type)

    def on_bar(self, bar: Bar) -> None:
        self.bars_seen += 1
        iid = bar.bar_type.instrument_id
        self.last_close[iid] = bar.close.as_decimal()
        wanted = self.target(iid, bar)
        if wanted is None:
            return
        if wanted < 0 and not self.allow_short:
            wanted = 0
        held = self.positions_qty.get(iid, 0)
        current = (held > 0) - (held < 0)
        if wanted == current:
            return
        if held != 0:
            self._submit(iid, OrderSide.SELL if held > 0 else OrderSide.BUY, abs(held))
            self.positions_qty[iid] = 0
        if wanted != 0:
            self.signals += 1
            quantity = self.entry_quantity(iid, bar.close.as_decimal())
            if quantity <= 0:
                self.skipped_entries += 1
                return
            self._submit(iid, OrderSide.BUY if wanted > 0 else OrderSide.SELL, quantity)
            self.positions_qty[iid] = quantity if wanted > 0 else -quantity

    # -- sizing ------------------------------------------------------------------------------------
    def equity(self) -> Decimal:
        """Cash balance plus the open positions marked at their last close."""
        account = self.portfolio.account(Venue(self.config.venue))
        cash = account.balance_total(Currency.from_str(self.config.currency)).as_decimal() if account else Decimal(0)
        unrealized = Decimal(0)
        for iid, qty in self.positions_qty.items():
            if qty:
                pnl = self.portfolio.unrealized_pnl(iid)
                unrealized += pnl.as_decimal() if pnl is not None else Decimal(0)
        return cash + unrealized

    def margin_used(self) -> Decimal:
        return sum(
            (abs(Decimal(q)) * self.last_close[i] * self._margin(i) for i, q in self.positions_qty.items() if q),
            Decimal(0),
        )

    def _margin(self, iid: InstrumentId) -> Decimal:
        return Decimal(str((self.config.margin_pct or {}).get(str(iid), 100.0))) / 100

    def entry_quantity(self, iid: InstrumentId, price: Decimal) -> int:
        """Caps apply at entry, at the expected fill price (close + slippage)."""
        price += Decimal(str((self.config.slippage_per_share or {}).get(str(iid), 0.0)))
        equity = self.equity()
        if equity <= 0 or price <= 0:
            return 0
        lot = Decimal((self.config.lot_sizes or {}).get(str(iid), 1))
        size_cap = equity * Decimal(str(self.config.position_size_pct)) / 100
        position_cap = equity * Decimal(str(self.config.max_position_pct)) / 100
        margin_room = equity * Decimal(str(self.config.max_leverage)) - self.margin_used()
        notional = min(size_cap, position_cap, margin_room / self._margin(iid))
        if notional <= 0:
            return 0
        lots = (notional / price / lot).to_integral_value(rounding=ROUND_FLOOR)
        return int(lots * lot)

    def _submit(self, iid: InstrumentId, side: OrderSide, quantity: int) -> None:
        order = self.order_factory.market(iid, side, Quantity.from_int(quantity))
        self.submit_order(order)
