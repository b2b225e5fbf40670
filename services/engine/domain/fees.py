"""Commission as the request's `commission_model` says, as a Nautilus fee model.

PER_SHARE: per_share x quantity, at least `minimum` per order (IBKR-like default 0.005 USD, min 1.00).
PERCENT: percent of notional (0.1 means 0.1%), at least `minimum`.
FIXED: per_order for every order.
Computed in Decimal and rounded to the cent here: Nautilus' own per-contract model rounds the rate
itself to the currency's precision (0.005 -> 0.01 per share), which would double the IBKR rate.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from nautilus_trader.backtest.models import FeeModel
from nautilus_trader.model.objects import Money

CENT = Decimal("0.01")


def commission(kind: str, quantity: Decimal, price: Decimal, params: dict[str, Decimal]) -> Decimal:
    """The commission of one fill, in the instrument's currency, to the cent."""
    if kind == "PER_SHARE":
        raw = max(quantity * params["per_share"], params.get("minimum", Decimal(0)))
    elif kind == "PERCENT":
        raw = max(quantity * price * params["percent"] / 100, params.get("minimum", Decimal(0)))
    elif kind == "FIXED":
        raw = params["per_order"]
    else:
        raise ValueError(f"commission_model.type must be PER_SHARE, PERCENT or FIXED, got {kind!r}")
    return raw.quantize(CENT, rounding=ROUND_HALF_UP)


class CommissionFeeModel(FeeModel):  # type: ignore[misc]
    """Nautilus calls `get_commission` for every fill."""

    def __init__(self, kind: str, params: dict[str, Decimal]) -> None:
        super().__init__()
        self.kind = kind
        self.params = params

    def get_commission(self, order: Any, fill_qty: Any, fill_px: Any, instrument: Any) -> Money:
        amount = commission(self.kind, fill_qty.as_decimal(), fill_px.as_decimal(), self.params)
        return Money(amount, instrument.quote_currency)
