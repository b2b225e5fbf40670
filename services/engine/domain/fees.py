"""The request's `commission_model` as a Nautilus fee model.

The formula is `shared.contracts.models.commission.commission_amount` (the one definition, also behind
`CommissionModel.commission_for`): computed in Decimal and rounded to the cent there. Nautilus' own
per-contract model rounds the rate itself to the currency's precision (0.005 -> 0.01 per share), which
would double the IBKR rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from nautilus_trader.backtest.models import FeeModel
from nautilus_trader.model.objects import Money

from shared.contracts.models.commission import commission_amount


def commission(kind: str, quantity: Decimal, price: Decimal, params: Mapping[str, Decimal]) -> Decimal:
    """The commission of one fill, in the instrument's currency, to the cent (`commission_amount`)."""
    return commission_amount(kind, quantity, price, params)


class CommissionFeeModel(FeeModel):  # type: ignore[misc]
    """Nautilus calls `get_commission` for every fill."""

    def __init__(self, kind: str, params: Mapping[str, Decimal]) -> None:
        super().__init__()
        self.kind = kind
        self.params = params

    def get_commission(self, order: Any, fill_qty: Any, fill_px: Any, instrument: Any) -> Money:
        amount = commission_amount(self.kind, fill_qty.as_decimal(), fill_px.as_decimal(), self.params)
        return Money(amount, instrument.quote_currency)
