"""Why a completed run made no trade: the warning its result carries (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class CheapestLot:
    """The lowest price one lot of any instrument of the run reached: if the position size does not buy
    even that, no entry could ever fill."""

    instrument_id: str
    price: Decimal
    lot_size: int

    @property
    def cost(self) -> Decimal:
        return self.price * self.lot_size


def no_trade_warning(capital: Decimal, position_size_pct: Decimal, signals: int, cheapest: CheapestLot) -> str:
    """The reason, in numbers a person can check: the position size against one lot, or the signals that
    found no room."""
    amount = capital * position_size_pct / 100
    if amount < cheapest.cost:
        lot = "shares" if cheapest.lot_size == 1 else f"lots of {cheapest.lot_size}"
        return (
            f"no trade: the position size rounds to 0 {lot}: {position_size_pct.normalize():f}% of {capital:,.2f} is "
            f"{amount:,.2f} at a price of {cheapest.price:,.2f} ({cheapest.instrument_id}, its lowest close in "
            f"the period)"
        )
    return (
        f"no trade: {signals} signal(s), but no entry could be filled (the 10% position cap, the margin limit or "
        f"the commission left no room for a whole lot)"
    )
