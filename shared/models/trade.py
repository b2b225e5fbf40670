"""Trade: one position from entry to exit. Open (no exit) -> Closed (exit set, PnL computed)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.models.enums import TradeSide

CENT = Decimal("0.01")


class Trade(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    backtest_result_id: UUID
    instrument_id: str
    entry_time: AwareDatetime
    entry_price: Decimal = Field(gt=0)
    exit_time: AwareDatetime | None = None
    exit_price: Decimal | None = Field(default=None, gt=0)
    quantity: int = Field(gt=0)
    side: TradeSide
    commission: Decimal = Field(default=Decimal(0), ge=0, description="entry + exit commission")
    slippage: Decimal = Field(default=Decimal(0), ge=0, description="money lost to slippage")
    pnl: Decimal | None = Field(default=None, description="net of commission")
    pnl_pct: Decimal | None = Field(default=None, description="percent of the entry notional")

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if (self.exit_time is None) != (self.exit_price is None):
            raise ValueError("exit_time and exit_price: a closed trade has both, an open trade neither")
        if self.exit_price is None and (self.pnl is not None or self.pnl_pct is not None):
            raise ValueError("pnl: PnL is calculated only when exit_price is set")
        if self.exit_time is not None and self.exit_time < self.entry_time:
            raise ValueError("exit_time must not be before entry_time")
        return self

    @property
    def is_open(self) -> bool:
        return self.exit_time is None

    def close(
        self,
        exit_time: AwareDatetime,
        exit_price: Decimal,
        exit_commission: Decimal = Decimal(0),
        exit_slippage: Decimal = Decimal(0),
    ) -> Trade:
        commission = self.commission + exit_commission
        direction = 1 if self.side is TradeSide.LONG else -1
        pnl = ((exit_price - self.entry_price) * self.quantity * direction - commission).quantize(CENT, ROUND_HALF_EVEN)
        pnl_pct = (pnl / (self.entry_price * self.quantity) * 100).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)
        data = self.model_dump()
        data.update(
            exit_time=exit_time,
            exit_price=exit_price,
            commission=commission,
            slippage=self.slippage + exit_slippage,
            pnl=pnl,
            pnl_pct=pnl_pct,
        )
        return Trade.model_validate(data)
