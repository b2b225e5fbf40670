"""commission_model: {"type": PER_SHARE | PERCENT | FIXED, "per_share", "minimum", "percent", "per_order",
"slippage_ticks"}. Fields by type; a field that does not belong to the type is an error."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Final, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.models.enums import CommissionType

FIELDS: Final[dict[CommissionType, frozenset[str]]] = {
    CommissionType.PER_SHARE: frozenset({"per_share", "minimum"}),
    CommissionType.PERCENT: frozenset({"percent", "minimum"}),
    CommissionType.FIXED: frozenset({"per_order"}),
}
OPTIONAL: Final = frozenset({"type", "slippage_ticks"})
# Bounds of each field: far beyond any broker's fees, small enough that no cost computed from them overflows.
MAX_PER_SHARE: Final = Decimal(1_000)
MAX_PER_ORDER: Final = Decimal(1_000_000)
MAX_PERCENT: Final = Decimal(100)
MAX_SLIPPAGE_TICKS: Final = 10_000
MONEY_DECIMAL_PLACES: Final = 6
PerShare = Annotated[Decimal, Field(ge=0, le=MAX_PER_SHARE, decimal_places=MONEY_DECIMAL_PLACES)]
PerOrder = Annotated[Decimal, Field(ge=0, le=MAX_PER_ORDER, decimal_places=MONEY_DECIMAL_PLACES)]
Percent = Annotated[Decimal, Field(ge=0, le=MAX_PERCENT, decimal_places=MONEY_DECIMAL_PLACES)]
SlippageTicks = Annotated[int, Field(ge=0, le=MAX_SLIPPAGE_TICKS)]


class CommissionModel(BaseModel):
    """Default: IBKR-like 0.005 per share, at least 1.00 per order, 1 tick of slippage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: CommissionType = CommissionType.PER_SHARE
    per_share: PerShare | None = Field(default=None, description="money per share (PER_SHARE)")
    minimum: PerOrder | None = Field(default=None, description="least money per order (PER_SHARE, PERCENT)")
    percent: Percent | None = Field(default=None, description="percent of notional, 0.1 = 0.1% (PERCENT)")
    per_order: PerOrder | None = Field(default=None, description="money per order (FIXED)")
    slippage_ticks: SlippageTicks = Field(
        default=1, description="ticks a market order fills worse than the bar's price"
    )

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

    def commission_for(self, quantity: int | Decimal, price: Decimal) -> Decimal:
        """The commission of one order of `quantity` at `price`, to the cent (`commission_amount`)."""
        return commission_amount(
            self.type,
            Decimal(quantity),
            price,
            {
                "per_share": self.per_share,
                "minimum": self.minimum,
                "percent": self.percent,
                "per_order": self.per_order,
            },
        )


CENT: Final = Decimal("0.01")


def commission_amount(
    kind: CommissionType | str, quantity: Decimal, price: Decimal, params: Mapping[str, Decimal | None]
) -> Decimal:
    """The one commission formula: one order's commission in the instrument's currency, rounded to the cent
    half up. PER_SHARE: per_share x quantity, at least `minimum`; PERCENT: percent of notional (0.1 = 0.1%), at
    least `minimum`; FIXED: per_order. `params` holds the model's fields (a missing or None one counts 0)."""

    def field(name: str) -> Decimal:
        return params.get(name) or Decimal(0)

    if kind == CommissionType.PER_SHARE:
        raw = max(quantity * field("per_share"), field("minimum"))
    elif kind == CommissionType.PERCENT:
        raw = max(quantity * price * field("percent") / 100, field("minimum"))
    elif kind == CommissionType.FIXED:
        raw = field("per_order")
    else:
        raise ValueError(f"commission_model.type must be PER_SHARE, PERCENT or FIXED, got {kind!r}")
    return raw.quantize(CENT, rounding=ROUND_HALF_UP)
