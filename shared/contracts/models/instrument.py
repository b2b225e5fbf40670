"""Instrument: a tradeable asset, its exchange, and its trading specification."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Annotated, Final, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.contracts.models.enums import AssetClass, Currency

_SYMBOL = r"[A-Z0-9][A-Z0-9./-]{0,19}"
_EXCHANGE = r"[A-Z0-9]{2,12}"
SYMBOL_PATTERN: Final = f"^{_SYMBOL}$"
EXCHANGE_PATTERN: Final = f"^{_EXCHANGE}$"
INSTRUMENT_ID_PATTERN: Final = rf"^{_SYMBOL}\.{_EXCHANGE}$"  # SYMBOL.EXCHANGE, Nautilus's instrument id
# Bounds of a trading specification: wider than any listed asset, narrow enough for every price and quantity
# computed from them to stay exact (Nautilus keeps at most 9 decimal places of a price).
MAX_TICK_SIZE = Decimal(10_000)
TICK_DECIMAL_PLACES = 9
MAX_LOT_SIZE = 1_000_000


# An exchange-local wall time (the zone is the exchange's): RFC 3339's partial-time, not its full-time with an
# offset, which JSON Schema's "time" format would demand of every value.
def _without_offset(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a session time is the exchange's wall time: give it without an offset (09:30:00)")
    return value


WallTime = Annotated[
    time,
    AfterValidator(_without_offset),
    Field(json_schema_extra={"format": "partial-time"}, examples=["09:30:00"]),
]


class Session(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    open: WallTime
    close: WallTime

    @model_validator(mode="after")
    def _open_before_close(self) -> Self:
        if self.open >= self.close:
            raise ValueError(f"open must be before close (open={self.open}, close={self.close})")
        return self


class TradingHours(BaseModel):
    """Regular sessions in the exchange's time zone; holidays come from the exchange calendar."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "America/New_York"
    sessions: list[Session] = Field(default_factory=lambda: [Session(open=time(9, 30), close=time(16, 0))])
    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], description="0 = Monday")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone must be an IANA zone such as America/New_York, got {value!r}") from None
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not value or any(not 0 <= d <= 6 for d in value):
            raise ValueError("weekdays must be a non-empty list of 0 (Monday) .. 6 (Sunday)")
        return sorted(set(value))

    def contains(self, ts: datetime) -> bool:
        """Is an aware timestamp inside a session on a trading weekday (exchange time)?"""
        local = ts.astimezone(ZoneInfo(self.timezone))
        return local.weekday() in self.weekdays and any(s.open <= local.time() < s.close for s in self.sessions)


class Instrument(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Nautilus instrument id SYMBOL.EXCHANGE", examples=["AAPL.NASDAQ"])
    symbol: str = Field(pattern=SYMBOL_PATTERN, examples=["AAPL"])
    exchange: str = Field(pattern=EXCHANGE_PATTERN, examples=["NASDAQ"])
    asset_class: AssetClass
    currency: Currency
    tick_size: Decimal = Field(gt=0, le=MAX_TICK_SIZE, decimal_places=TICK_DECIMAL_PLACES, examples=["0.01"])
    lot_size: int = Field(gt=0, le=MAX_LOT_SIZE, examples=[1])
    trading_hours: TradingHours = Field(default_factory=TradingHours)
    margin_requirement: Decimal = Field(gt=0, le=100, description="percent of position value", examples=["25"])

    @field_validator("currency", mode="before")
    @classmethod
    def _supported_currency(cls, value: object) -> object:
        if isinstance(value, str) and value not in Currency.__members__:
            raise ValueError(f"currency must be one of USD, EUR, GBP, JPY; got {value!r}")
        return value

    @model_validator(mode="after")
    def _symbol_valid_for_exchange(self) -> Self:
        if self.id != f"{self.symbol}.{self.exchange}":
            raise ValueError(
                f"id must be SYMBOL.EXCHANGE: symbol {self.symbol!r} on {self.exchange!r} is "
                f"{self.symbol}.{self.exchange}, got {self.id!r}"
            )
        return self


def utc_now() -> datetime:
    return datetime.now(UTC)
