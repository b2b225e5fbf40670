"""Trade: one position from entry to exit. Open (no exit) -> Closed (exit set, PnL computed)."""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.contracts.models.enums import TradeSide


class Trade(BaseModel):
    """The data model's Trade as it is shown (GET /backtests/{id}/trades; its ids stay in the engine's table), with
    the data model's rules: open (no exit) -> closed (exit set, PnL computed). The engine's table has the same rules
    as check constraints, and computes the PnL (services/engine)."""

    model_config = ConfigDict(frozen=True)

    instrument_id: str
    side: TradeSide
    entry_time: AwareDatetime
    entry_price: Decimal = Field(gt=0)
    exit_time: AwareDatetime | None = None
    exit_price: Decimal | None = Field(default=None, gt=0)
    quantity: int = Field(gt=0)
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
