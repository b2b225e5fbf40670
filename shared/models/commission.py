"""commission_model: {"type": PER_SHARE | PERCENT | FIXED, "per_share", "minimum", "percent", "per_order",
"slippage_ticks"}. Fields by type; a field that does not belong to the type is an error."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.models.enums import CommissionType

FIELDS: Final[dict[CommissionType, frozenset[str]]] = {
    CommissionType.PER_SHARE: frozenset({"per_share", "minimum"}),
    CommissionType.PERCENT: frozenset({"percent", "minimum"}),
    CommissionType.FIXED: frozenset({"per_order"}),
}
OPTIONAL: Final = frozenset({"type", "slippage_ticks"})


class CommissionModel(BaseModel):
    """Default: IBKR-like 0.005 per share, at least 1.00 per order, 1 tick of slippage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: CommissionType = CommissionType.PER_SHARE
    per_share: Decimal | None = Field(default=None, ge=0, description="money per share (PER_SHARE)")
    minimum: Decimal | None = Field(default=None, ge=0, description="least money per order (PER_SHARE, PERCENT)")
    percent: Decimal | None = Field(default=None, ge=0, description="percent of notional, 0.1 = 0.1% (PERCENT)")
    per_order: Decimal | None = Field(default=None, ge=0, description="money per order (FIXED)")
    slippage_ticks: int = Field(default=1, ge=0, description="ticks a market order fills worse than the bar's price")

    @model_validator(mode="after")
    def _fields_by_type(self) -> Self:
        given = {k for k, v in self.model_dump(exclude_unset=True).items() if v is not None} - OPTIONAL
        foreign = sorted(given - FIELDS[self.type])
        if foreign:
            raise ValueError(f"{', '.join(foreign)} does not apply to commission type {self.type.value}")
        defaults = {
            CommissionType.PER_SHARE: {"per_share": Decimal("0.005"), "minimum": Decimal("1.00")},
            CommissionType.PERCENT: {"minimum": Decimal("0")},
            CommissionType.FIXED: {},
        }[self.type]
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        required = {"PERCENT": "percent", "FIXED": "per_order"}.get(self.type.value)
        if required and getattr(self, required) is None:
            raise ValueError(f"{required} is required for commission type {self.type.value}")
        return self

    def commission_for(self, quantity: int, price: Decimal) -> Decimal:
        if self.type is CommissionType.PER_SHARE:
            raw = max(quantity * (self.per_share or Decimal(0)), self.minimum or Decimal(0))
        elif self.type is CommissionType.PERCENT:
            raw = max(quantity * price * (self.percent or Decimal(0)) / 100, self.minimum or Decimal(0))
        else:
            raw = self.per_order or Decimal(0)
        return raw.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
