"""BacktestConfiguration (what to run) and BacktestResult (what came of it, PENDING -> RUNNING ->
COMPLETED | FAILED)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Final, Self
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

from shared.contracts.models.commission import CommissionModel
from shared.contracts.models.enums import BacktestStatus, DataSource, PriceAdjustment
from shared.contracts.models.instrument import INSTRUMENT_ID_PATTERN, SYMBOL_PATTERN
from shared.contracts.models.metrics import PerformanceMetrics

EARLIEST: Final = date(2019, 1, 1)
LATEST: Final = date(2024, 12, 31)
MIN_TRADING_DAYS: Final = 30
SHARPE_REALISTIC: Final = (-3.0, 5.0)
CANCELLED_BY_USER = "cancelled by the user"  # the error_message of a backtest its owner cancelled


MAX_INSTRUMENTS: Final = 50
MAX_INITIAL_CAPITAL: Final = Decimal("1e12")


def weekdays(start: date, end: date) -> int:
    """Monday-to-Friday days from `start` to `end`, both included (0 if `end` is before `start`)."""
    if end < start:
        return 0
    weeks, rest = divmod((end - start).days + 1, 7)
    first = start.weekday()
    return weeks * 5 + sum(1 for day in range(rest) if (first + day) % 7 < 5)


def sharpe_unrealistic(sharpe: float | None) -> bool:
    """A Sharpe ratio outside SHARPE_REALISTIC is kept but flagged for the reader."""
    low, high = SHARPE_REALISTIC
    return sharpe is not None and not low <= sharpe <= high


class BacktestSettings(BaseModel):
    """The configuration fields a caller chooses, with their limits: the one definition that the REST bodies
    (a backtest's, a sweep's) and a `backtest.requested` from any producer are validated against."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not a silent default

    instrument_ids: list[str] = Field(
        min_length=1, max_length=MAX_INSTRUMENTS, examples=[["AAPL.NASDAQ", "MSFT.NASDAQ"]]
    )
    start_date: date = Field(examples=["2019-01-02"])
    end_date: date = Field(examples=["2024-12-31"])
    initial_capital: Decimal = Field(
        default=Decimal(100_000), ge=1000, le=MAX_INITIAL_CAPITAL, description="money, 1000..1e12"
    )
    position_size_pct: Decimal = Field(default=Decimal(1), ge=Decimal("0.1"), le=10, description="percent of equity")
    commission_model: CommissionModel = Field(default_factory=CommissionModel)
    data_source: DataSource = DataSource.CSV_FILE
    benchmark_symbol: str = Field(default="SPY", pattern=SYMBOL_PATTERN)
    price_adjustment: PriceAdjustment = Field(
        default=PriceAdjustment.SPLITS,
        description="how RAW bars are back-adjusted before the run, from the instrument's corporate actions: "
        "NONE, SPLITS (prices / split factor, volume * it) or SPLITS_AND_DIVIDENDS (also * (1 - dividend / "
        "previous close)); bars imported ADJUSTED are used as they are",
    )

    @field_validator("instrument_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.match(INSTRUMENT_ID_PATTERN, v)]
        if bad:
            raise ValueError(f"instrument ids must look like SYMBOL.EXCHANGE (e.g. AAPL.NASDAQ), got {bad}")
        if len(set(value)) != len(value):
            raise ValueError("instrument_ids must not repeat an instrument")
        return value

    @field_validator("start_date", "end_date")
    @classmethod
    def _in_range(cls, value: date) -> date:
        if not EARLIEST <= value <= LATEST:
            raise ValueError(f"dates must be within {EARLIEST}..{LATEST}, got {value}")
        return value


class BacktestConfiguration(BacktestSettings):
    """ "At least 30 days of data" needs the data: here only the cheap part (30 weekdays in the period);
    the gateway and the engine count the trading days that have bars."""

    model_config = ConfigDict(frozen=True)

    id: UUID = Field(default_factory=uuid4)
    strategy_id: UUID

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.end_date <= self.start_date:
            raise ValueError(
                f"end_date must be after start_date (start_date={self.start_date}, end_date={self.end_date})"
            )
        count = weekdays(self.start_date, self.end_date)
        if count < MIN_TRADING_DAYS:
            raise ValueError(
                f"end_date: the period has {count} weekdays; backtests need at least {MIN_TRADING_DAYS} trading days"
            )
        return self


class BacktestResult(BaseModel):
    """The data model's BacktestResult as the gateway shows it (GET /backtests/{id}/result), held to its rules
    (the engine's table has the same as check constraints): PENDING -> RUNNING -> COMPLETED | FAILED."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    configuration_id: UUID
    status: BacktestStatus = BacktestStatus.PENDING
    started_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    error_message: str | None = None
    trades_count: int = Field(
        default=0, ge=0, description="closed round trips (entry to exit): win_rate = winning_trades / this"
    )
    winning_trades: int = Field(default=0, ge=0)
    losing_trades: int = Field(default=0, ge=0)
    open_trades: int = Field(default=0, ge=0, description="positions still open at the end (not in trades_count)")
    open_pnl: Decimal = Field(default=Decimal(0), description="their P&L at the last known price, net of commission")
    benchmark_instrument_id: str | None = Field(default=None, description="what benchmark_symbol resolved to")
    data_as_of: AwareDatetime | None = Field(
        default=None, description="the run read the market data as of this system time (reproduce reads it again)"
    )
    metrics: PerformanceMetrics | None = None
    warnings: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.winning_trades + self.losing_trades > self.trades_count:
            raise ValueError(
                f"winning_trades + losing_trades must be <= trades_count ({self.winning_trades} + "
                f"{self.losing_trades} > {self.trades_count})"
            )
        if self.status is BacktestStatus.COMPLETED:
            if self.metrics is None:
                raise ValueError("metrics: completed results must have all metrics")
            if self.completed_at is None:
                raise ValueError("completed_at: a completed result needs its completion time")
        if self.status is BacktestStatus.FAILED and not self.error_message:
            raise ValueError("error_message: a failed result must say why")
        if self.started_at and self.completed_at and self.completed_at < self.started_at:
            raise ValueError("completed_at must not be before started_at")
        if self.metrics is not None:
            expected = self.winning_trades / self.trades_count if self.trades_count else 0.0
            if abs(self.metrics.trading.win_rate - expected) > 1e-9:
                raise ValueError(
                    f"win_rate must equal winning_trades / trades_count = {expected:.6f}, "
                    f"got {self.metrics.trading.win_rate}"
                )
            sharpe = self.metrics.risk.sharpe_ratio or 0.0
            low, high = SHARPE_REALISTIC
            note = f"sharpe_ratio {sharpe:.2f} is outside the realistic range {low:g}..{high:g}"
            if self.sharpe_unrealistic and note not in self.warnings:
                object.__setattr__(self, "warnings", [*self.warnings, note])
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sharpe_unrealistic(self) -> bool:
        """Kept, not dropped: a Sharpe ratio outside SHARPE_REALISTIC is flagged for the reader."""
        return self.metrics is not None and sharpe_unrealistic(self.metrics.risk.sharpe_ratio)
