"""HTTP request and response bodies. Field names are the data model's; entities come from `shared.contracts.models`."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.models import DataSource, StrategyStatus, Timeframe
from shared.contracts.models.backtest import BacktestConfiguration, BacktestResult, BacktestSettings
from shared.contracts.models.enums import BacktestStatus, BarAdjustment
from shared.contracts.models.responses import BacktestStatusResponse, StrategyResponse
from shared.contracts.models.trade import Trade


class StrategyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "SMA 20/50",
                    "strategy_type": "SMA_CROSSOVER",
                    "parameters": {"fast_period": 20, "slow_period": 50},
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    strategy_type: str = Field(
        min_length=1,
        max_length=64,
        examples=["SMA_CROSSOVER"],
        description="a registered strategy type: the data model's SMA_CROSSOVER, MEAN_REVERSION, MOMENTUM and any "
        "installed plugin's (GET /strategy-types lists them with their parameter schemas)",
    )
    parameters: dict[str, Any] = Field(description="typed per strategy_type: GET /strategy-types gives each schema")


class StrategyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    parameters: dict[str, Any] | None = None


class StrategyOut(StrategyResponse):
    """The data model's StrategyResponse plus the lifecycle status."""

    status: StrategyStatus
    updated_at: datetime


class ConfigurationFields(BacktestSettings):
    """The data model's BacktestConfiguration fields a caller chooses (a backtest's, or every child's of a sweep):
    the shared model's fields and limits, so a request published straight to Kafka is held to the same."""

    model_config = ConfigDict(extra="forbid")

    def configuration_values(self) -> dict[str, Any]:
        return self.model_dump(include=set(ConfigurationFields.model_fields))


class BacktestSubmit(ConfigurationFields):
    """What to run: the data model's BacktestConfiguration fields (the id is made by the gateway)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "strategy_id": "7f7c8a52-1f0e-4a6b-9d3e-0a4f3c1d2b10",
                    "instrument_ids": ["AAPL.NASDAQ", "MSFT.NASDAQ"],
                    "start_date": "2019-01-02",
                    "end_date": "2024-12-31",
                    "initial_capital": "100000",
                    "position_size_pct": "1",
                    "commission_model": {
                        "type": "PER_SHARE",
                        "per_share": "0.005",
                        "minimum": "1.00",
                        "slippage_ticks": 1,
                    },
                    "data_source": "CSV_FILE",
                    "benchmark_symbol": "SPY",
                }
            ]
        },
    )

    strategy_id: UUID

    def configuration(self) -> BacktestConfiguration:
        """The shared model runs the cross-field rules (dates, 30 weekdays, id shapes); raises ValueError."""
        return BacktestConfiguration(strategy_id=self.strategy_id, **self.configuration_values())


class BacktestAccepted(BaseModel):
    id: UUID
    status: BacktestStatus = BacktestStatus.PENDING


class BacktestSummary(BacktestStatusResponse):
    """One line of `GET /backtests`: the status plus what was run."""

    configuration_id: UUID | None
    strategy_id: UUID | None = None
    strategy_type: str | None = None
    instrument_ids: list[str] = Field(default_factory=list)
    start_date: date | None = None
    end_date: date | None = None
    submitted_at: datetime
    updated_at: datetime
    imported: bool = Field(default=False, description="a read-only result imported from a bundle (bts backtest import)")


class JobAccepted(BaseModel):
    job_id: UUID
    status: BacktestStatus = BacktestStatus.PENDING


class RowErrorOut(BaseModel):
    line: int
    field: str
    message: str


class ImportWarningOut(BaseModel):
    kind: str = Field(description="GAP, SPLIT_SUSPECT or STALE")
    instrument_id: str
    timeframe: Timeframe
    start: date = Field(description="first session concerned")
    end: date = Field(description="last session concerned")
    detail: str


class ImportJobOut(BaseModel):
    job_id: UUID
    instrument_id: str
    timeframe: Timeframe
    source: DataSource
    status: str
    rows_done: int
    rows_total: int | None
    rows_loaded: int = Field(description="valid rows: inserted + updated + unchanged")
    rows_rejected: int
    rows_inserted: int = Field(description="bars that were not stored before")
    rows_updated: int = Field(description="stored bars whose values changed")
    rows_unchanged: int = Field(description="bars identical to the stored ones (a re-import)")
    errors: list[RowErrorOut]
    error_message: str | None
    warnings: list[ImportWarningOut] = Field(
        description="data-quality findings of what was loaded (a few of each kind; warning_counts has them all)"
    )
    warning_counts: dict[str, int] = Field(description="findings per kind, in all")
    submitted_at: datetime
    updated_at: datetime
    price_adjustment: BarAdjustment = Field(description="RAW or ADJUSTED (prices scaled by the file's Adj Close)")
    notes: list[str] = Field(default_factory=list, description="about the file as a whole, e.g. Adj Close ignored")


class IbkrImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instrument_id: str = Field(examples=["AAPL.NASDAQ"])
    timeframe: Timeframe
    start: datetime = Field(examples=["2024-01-02T00:00:00Z"], description="UTC unless an offset is given")
    end: datetime = Field(examples=["2024-02-01T00:00:00Z"])


class BarOut(BaseModel):
    timestamp: datetime = Field(description="bar open time, UTC")
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


class GapRange(BaseModel):
    start: date = Field(description="first session without a bar")
    end: date = Field(description="last session of the run without a bar (sessions with no bar in between)")


class CoverageOut(BaseModel):
    instrument_id: str
    timeframe: Timeframe
    first_bar: datetime = Field(description="open of the first bar, UTC")
    last_bar: datetime = Field(description="open of the last bar, UTC")
    bars: int
    sessions_with_bars: int = Field(description="UTC dates holding at least one bar")
    expected_sessions: int | None = Field(
        description="sessions of the exchange calendar from the first bar's day to the last bar's day; null when "
        "the exchange has no calendar"
    )
    gap_sessions: int | None = Field(description="expected sessions without a bar")
    gap_ranges: int | None = Field(description="runs of consecutive sessions without a bar")
    gaps: list[GapRange] = Field(description="the first runs of sessions without a bar (at most 5)")
    adjustment: str = Field(description="RAW: prices as imported")
    last_import: datetime | None = Field(description="when an import last changed the series")


class DataVersionOut(BaseModel):
    timeframe: Timeframe
    recorded_at: datetime = Field(description="system time of the import: bars it replaced were valid until then")
    inserted: int = Field(description="new bars")
    updated: int = Field(description="bars changed (their previous values are kept, valid until recorded_at)")
    unchanged: int
    first_bar: datetime = Field(description="the range of bars the import touched (bar opens, UTC)")
    last_bar: datetime


class TradeOut(Trade):
    """The data model's Trade fields: entry/exit, side, quantity, commission, slippage, pnl, pnl_pct."""


class SnapshotOut(BaseModel):
    timestamp: datetime
    cash_balance: Decimal
    total_value: Decimal
    margin_used: Decimal
    buying_power: Decimal
    positions: list[dict[str, Any]] = Field(
        description="holdings: instrument_id, quantity, avg_price, market_price, market_value"
    )


class ResultOut(BacktestResult):
    """The data model's BacktestResult with its metrics JSON."""


class ReportOut(BaseModel):
    id: UUID
    backtest_result_id: UUID
    report_type: str
    generated_at: datetime
    content_hash: str
    file_name: str = Field(description="the report file's name (where the server keeps it is not shown)")
    download_url: str


class ConsumerPartitionLag(BaseModel):
    group: str
    topic: str
    partition: int
    committed: int | None
    end_offset: int | None
    lag: int | None
    members: list[str] = Field(default_factory=list)


class StrategyTypeOut(BaseModel):
    """A registered strategy type: what `strategy_type` may name, and the JSON Schema of its parameters."""

    name: str = Field(examples=["SMA_CROSSOVER"])
    description: str
    parameters_schema: dict[str, Any] = Field(description="JSON Schema (draft 2020-12) of `parameters`")
    distribution: str | None = Field(description="the installed package that registered it (bts: a built-in)")
    version: str | None
    builtin: bool


class ReproductionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latest_data: bool = Field(
        default=False,
        description="run on the current bars; by default the rerun reads the bars as of the original run "
        "(its data_as_of), so a re-import since does not change it",
    )


class ReproductionAccepted(BaseModel):
    id: UUID = Field(description="the new backtest")
    status: BacktestStatus = BacktestStatus.PENDING
    reproduces: UUID = Field(description="the backtest whose recorded request it replays")
    data_as_of: datetime | None = Field(
        description="the system time the rerun reads the bars as of; null: the current bars"
    )


class EquityCurve(BaseModel):
    dates: list[date]
    values: list[float] = Field(description="end-of-day portfolio total value")


class ComparedBacktest(BaseModel):
    id: UUID
    label: str = Field(description="strategy name (or type) and parameters, for legends and column heads")
    strategy_type: str | None
    strategy_name: str | None
    parameters: dict[str, Any]
    instrument_ids: list[str]
    start_date: date | None
    end_date: date | None
    initial_capital: Decimal | None
    trades_count: int
    winning_trades: int
    losing_trades: int
    completed_at: datetime | None
    metrics: dict[str, Any] = Field(description="the data model's metrics JSON (fractions)")
    equity: EquityCurve | None = Field(default=None, description="with curves=true")


class MetricRow(BaseModel):
    group: str = Field(examples=["risk"])
    metric: str = Field(examples=["sharpe_ratio"])
    values: list[float | None] = Field(description="one per backtest, in the order of `backtests`")
    best: UUID | None = Field(description="the backtest with the best value (null when no order makes sense)")


class ComparisonOut(BaseModel):
    backtests: list[ComparedBacktest]
    metrics: list[MetricRow] = Field(description="metrics side by side: one row per metric of the data model's JSON")
