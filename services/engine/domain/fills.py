"""Slippage in ticks, as a Nautilus fill model: a market order fills `ticks` ticks worse than the bar's price.

Nautilus' built-in models give at most one tick; this one shows the matching engine a book with no
liquidity until `ticks` away from the best price (the approach of its OneTickSlippageFillModel).
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.backtest.models import FillModel
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder
from nautilus_trader.model.enums import BookType, OrderSide
from nautilus_trader.model.objects import Price, Quantity

_UNLIMITED = 10**12


class TickSlippageFillModel(FillModel):  # type: ignore[misc]
    def __init__(self, ticks: int) -> None:
        super().__init__()
        self.ticks = ticks

    def get_orderbook_for_fill_simulation(
        self, instrument: Any, order: Any, best_bid: Any, best_ask: Any
    ) -> OrderBook | None:
        if self.ticks == 0:
            return None  # the default: fill at the bar's price
        offset = instrument.price_increment.as_decimal() * self.ticks
        precision = instrument.price_precision
        book = OrderBook(instrument_id=instrument.id, book_type=BookType.L2_MBP)
        size = Quantity(_UNLIMITED, instrument.size_precision)
        bid = Price(best_bid.as_decimal() - offset, precision)
        ask = Price(best_ask.as_decimal() + offset, precision)
        book.add(BookOrder(side=OrderSide.BUY, price=bid, size=size, order_id=1), 0, 0)
        book.add(BookOrder(side=OrderSide.SELL, price=ask, size=size, order_id=2), 0, 0)
        return book
