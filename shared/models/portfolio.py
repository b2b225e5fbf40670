"""Portfolio snapshots: cash, positions marked to market, margin. Taken at each trade and daily."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.models.enums import SnapshotKind


class PositionHolding(BaseModel):
    model_config = ConfigDict(frozen=True)

    instrument_id: str
    quantity: int = Field(description="signed: negative is short")
    avg_price: Decimal = Field(gt=0)
    market_price: Decimal = Field(gt=0)
    market_value: Decimal

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.quantity == 0:
            raise ValueError("quantity: a held position is not zero")
        if self.market_value != self.quantity * self.market_price:
            raise ValueError(
                f"market_value must be quantity x market_price = {self.quantity * self.market_price}, "
                f"got {self.market_value}"
            )
        return self


class PortfolioSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    backtest_result_id: UUID
    timestamp: AwareDatetime
    kind: SnapshotKind
    cash_balance: Decimal = Field(description="may be negative: margin")
    positions: list[PositionHolding] = Field(default_factory=list)
    total_value: Decimal
    margin_used: Decimal = Field(ge=0)
    buying_power: Decimal
    leverage: Decimal = Field(default=Decimal(3), gt=0)

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: AwareDatetime) -> AwareDatetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        expected = self.cash_balance + sum((p.market_value for p in self.positions), Decimal(0))
        if abs(self.total_value - expected) >= Decimal("0.01"):
            raise ValueError(f"total_value must be cash + sum(position values) = {expected}, got {self.total_value}")
        if self.margin_used > self.total_value * self.leverage:
            raise ValueError(
                f"margin_used must be <= total_value x leverage ({self.margin_used} > "
                f"{self.total_value} x {self.leverage})"
            )
        return self
