"""MarketData: one OHLCV bar, stamped at its open in UTC (a daily bar: its session date, 00:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.contracts.models.enums import Timeframe


class Bar(BaseModel):
    model_config = ConfigDict(frozen=True)

    instrument_id: str
    timestamp: datetime
    open: Decimal = Field(gt=0)
    high: Decimal = Field(gt=0)
    low: Decimal = Field(gt=0)
    close: Decimal = Field(gt=0)
    volume: int = Field(ge=0)
    timeframe: Timeframe

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamp needs a time zone (bars are stored in UTC)")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _ohlc_consistent(self) -> Self:
        if self.high < max(self.open, self.close):
            raise ValueError(
                f"high must be >= max(open, close): high={self.high}, open={self.open}, close={self.close}"
            )
        if self.low > min(self.open, self.close):
            raise ValueError(f"low must be <= min(open, close): low={self.low}, open={self.open}, close={self.close}")
        return self


MarketData = Bar
