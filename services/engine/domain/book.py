"""The strategy's own book, kept the way the ledger keeps it (pure, Decimal; no NautilusTrader).

Cash moves by quantity x price and commission at each fill; positions are marked at their last close.
Each order is booked at its expected fill price (close -/+ slippage) and commission from the moment it
is submitted until its fill arrives, so equity and margin are right in the middle of a timestamp's
orders too. Instruments are keyed by their engine id (text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.engine.domain.margin import Exposure, positions_to_close, within_leverage

Commission = Callable[[Decimal, Decimal], Decimal]  # (quantity > 0, price) -> money


@dataclass(frozen=True)
class InstrumentTerms:
    """What trading one instrument costs and needs."""

    margin: Decimal  # margin requirement, a fraction of the notional
    slippage: Decimal  # money per share: the expected fill is close + slippage (buy) or - slippage (sell)
    lot: int = 1

    @property
    def margin_float(self) -> float:
        return float(self.margin)


DEFAULT_TERMS = InstrumentTerms(margin=Decimal(1), slippage=Decimal(0))


@dataclass
class InFlight:
    """A submitted order not filled yet, booked at its expected fill."""

    instrument: str
    signed_quantity: int
    price: Decimal
    commission: Decimal


@dataclass(frozen=True)
class MarginCallDecision:
    closed: list[str]  # instruments to close, in order
    margin_used: Decimal  # before the call
    account_value: Decimal


class Book:
    def __init__(
        self,
        terms: Mapping[str, InstrumentTerms],
        commission: Commission | None = None,
        leverage: Decimal = Decimal(3),
        cash: Decimal = Decimal(0),
    ) -> None:
        self.terms = dict(terms)
        self.leverage = leverage
        self.cash = cash  # initial capital - sum(signed quantity x price + commission) of the fills
        self.positions: dict[str, int] = {}  # including submitted orders not filled yet
        self.last_close: dict[str, Decimal] = {}
        self._commission = commission
        self._in_flight: dict[str, InFlight] = {}
        # Float copies for the quick margin check of every timestamp (clearly_within_cap).
        self._leverage_float = float(leverage)
        self._cash_float = float(cash)
        self._close_floats: dict[str, float] = {}
        self._margin_floats = {key: t.margin_float for key, t in self.terms.items()}

    def terms_of(self, instrument: str) -> InstrumentTerms:
        return self.terms.get(instrument, DEFAULT_TERMS)

    def set_cash(self, cash: Decimal) -> None:
        self.cash, self._cash_float = cash, float(cash)

    def mark(self, instrument: str, close: Decimal, close_float: float) -> None:
        """The instrument's latest close (`close_float` is the same price as a float)."""
        self.last_close[instrument] = close
        self._close_floats[instrument] = close_float

    def commission(self, quantity: int | Decimal, price: Decimal) -> Decimal:
        if self._commission is None or quantity <= 0:
            return Decimal(0)
        return self._commission(Decimal(quantity), price)

    def expected_fill(self, instrument: str, buy: bool) -> Decimal:
        slip = self.terms_of(instrument).slippage
        return self.last_close[instrument] + (slip if buy else -slip)

    # -- orders ------------------------------------------------------------------------------------
    def submitted(self, order_id: str, instrument: str, signed_quantity: int) -> None:
        """An order at the last close: booked at its expected fill until it fills."""
        price = self.expected_fill(instrument, signed_quantity > 0)
        commission = self.commission(abs(signed_quantity), price)
        self._in_flight[order_id] = InFlight(instrument, signed_quantity, price, commission)
        self.positions[instrument] = self.positions.get(instrument, 0) + signed_quantity

    def filled(self, order_id: str, signed_quantity: Decimal, price: Decimal, commission: Decimal) -> None:
        self.cash -= signed_quantity * price + commission
        self._cash_float = float(self.cash)
        flight = self._in_flight.get(order_id)
        if flight is not None:
            flight.signed_quantity -= int(signed_quantity)
            flight.commission = Decimal(0)
            if flight.signed_quantity == 0:
                del self._in_flight[order_id]

    def dropped(self, order_id: str) -> None:
        """An order that will not fill: what the book expected of it is undone."""
        flight = self._in_flight.pop(order_id, None)
        if flight is not None:
            self.positions[flight.instrument] -= flight.signed_quantity

    # -- values ------------------------------------------------------------------------------------
    def equity(self) -> Decimal:
        """Cash (submitted orders at their expected fills) plus the open positions marked at their last close."""
        cash = self.cash - sum(
            (f.signed_quantity * f.price + f.commission for f in self._in_flight.values()), Decimal(0)
        )
        return cash + sum((q * self.last_close[i] for i, q in self.positions.items() if q), Decimal(0))

    def margin_used(self) -> Decimal:
        return sum(
            (abs(Decimal(q)) * self.last_close[i] * self.terms_of(i).margin for i, q in self.positions.items() if q),
            Decimal(0),
        )

    def clearly_within_cap(self) -> bool:
        """Most timestamps are far from the cap: floats settle them without the exact Decimal check (their
        error is ~1e-12 of the values; the band, 0.01% of the cap, also covers the cent rounding of the check
        once the account value is above 100)."""
        if self._in_flight:
            return False
        margin = value = 0.0
        for instrument, quantity in self.positions.items():
            if quantity:
                close = self._close_floats[instrument]
                margin += abs(quantity) * close * self._margin_floats.get(instrument, 1.0)
                value += quantity * close
        value += self._cash_float
        return value > 100.0 and margin <= 0.9999 * self._leverage_float * value

    def margin_call(self) -> MarginCallDecision | None:
        """The whole positions to close when the last closes put margin above the cap (see margin.py); None
        when the book is within it."""
        margin, equity = self.margin_used(), self.equity()
        if within_leverage(margin, equity, self.leverage):
            return None
        exposures = []
        for instrument, held in self.positions.items():
            if not held:
                continue
            quantity = abs(held)
            close, slip = self.last_close[instrument], self.terms_of(instrument).slippage
            fill = close - slip if held > 0 else close + slip
            exposures.append(
                Exposure(
                    instrument,
                    quantity * close * self.terms_of(instrument).margin,
                    quantity * slip + self.commission(quantity, fill),
                )
            )
        return MarginCallDecision(positions_to_close(exposures, margin, equity, self.leverage), margin, equity)
