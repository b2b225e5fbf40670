"""How many shares an entry opens (pure, Decimal; no NautilusTrader): the data model's sizing rules on the book."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from services.engine.domain.book import Book
from services.engine.domain.margin import within_leverage


@dataclass(frozen=True)
class SizingRules:
    position_size_pct: Decimal  # of equity, per entry
    max_position_pct: Decimal = Decimal(10)  # of the portfolio when a position is opened


def entry_quantity(book: Book, instrument: str, price: Decimal, rules: SizingRules) -> int:
    """Shares to open at `price` (the close): position_size_pct and 10% of equity at the expected fill
    price (close + slippage), and total margin at most 3x the account value once the entry and its own
    costs (slippage and commission lower the account value) are booked, to the cent as stored."""
    terms = book.terms_of(instrument)
    slip, leverage = terms.slippage, book.leverage
    fill = price + slip
    equity = book.equity()
    if equity <= 0 or fill <= 0:
        return 0
    lot = Decimal(terms.lot)
    size_cap = equity * rules.position_size_pct / 100
    position_cap = equity * rules.max_position_pct / 100
    lots = (min(size_cap, position_cap) / fill / lot).to_integral_value(rounding=ROUND_FLOOR)
    margin, requirement = book.margin_used(), terms.margin
    # Each share adds price x requirement of margin and takes slippage off the account value, which
    # counts leverage times against the room; the commission too (at most that of the larger size).
    per_share = price * requirement + leverage * slip
    if per_share > 0:
        room = equity * leverage - margin - leverage * book.commission(lots * lot, fill)
        lots = min(lots, (room / per_share / lot).to_integral_value(rounding=ROUND_FLOOR))

    def fits(n: Decimal) -> bool:
        quantity = n * lot
        after = equity - quantity * slip - book.commission(quantity, fill)
        return within_leverage(margin + quantity * price * requirement, after, leverage)

    while lots > 0 and not fits(lots):  # a minimum commission or the cent rounding can still tip it
        lots -= 1
    return int(max(lots, Decimal(0)) * lot)
