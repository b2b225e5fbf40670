"""Kafka messages: a CloudEvents-style envelope and one payload model per topic.

A `backtest.requested` carries everything the engine needs, so producers outside the gateway can
publish one directly (see the README's ten-line producer).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID, uuid4

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.contracts import topics
from shared.contracts.models import (
    BacktestConfiguration,
    BacktestStatus,
    DataSource,
    PerformanceMetrics,
    ReportType,
    Timeframe,
)
from shared.contracts.models.enums import BarAdjustment
from shared.contracts.text_bounds import (
    MAX_FIELD_CHARS,
    MAX_IMPORT_WARNINGS_PER_KIND,
    MAX_ROW_ERRORS,
    MAX_ROW_MESSAGE_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_WARNINGS,
    clip,
)

SCHEMA_VERSION = 1


def _clipped(limit: int) -> AfterValidator:
    return AfterValidator(lambda text: clip(text, limit))


def _capped(limit: int) -> AfterValidator:
    return AfterValidator(lambda items: items[:limit])


# User-derived text in events is bounded by construction (see shared.contracts.text_bounds): an event stays far below
# what the broker accepts whatever the input, and the whole detail stays in the owner's tables.
SummaryText = Annotated[str, _clipped(MAX_SUMMARY_CHARS)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RowError(Payload):
    """One rejected input row: which line, which field, what was expected."""

    line: int = Field(ge=0, description="1-based line in the file (header is line 1); 0 = whole file")
    field: Annotated[str, _clipped(MAX_FIELD_CHARS)]
    message: Annotated[str, _clipped(MAX_ROW_MESSAGE_CHARS)]


RowErrors = Annotated[list[RowError], _capped(MAX_ROW_ERRORS)]


ImportWarningKind = Literal["GAP", "SPLIT_SUSPECT", "STALE"]


class ImportWarning(Payload):
    """One data-quality finding of an import: GAP, SPLIT_SUSPECT or STALE, over sessions start..end."""

    kind: ImportWarningKind
    instrument_id: str
    timeframe: Timeframe
    start: date = Field(description="first session concerned")
    end: date = Field(description="last session concerned")
    detail: Annotated[str, _clipped(MAX_ROW_MESSAGE_CHARS)]


ImportWarnings = Annotated[list[ImportWarning], _capped(3 * MAX_IMPORT_WARNINGS_PER_KIND)]
Warnings = Annotated[list[SummaryText], _capped(MAX_WARNINGS)]


class IngestRequested(Payload):
    job_id: UUID
    user_id: UUID | None = None
    source: DataSource
    instrument_id: str
    timeframe: Timeframe
    file_uri: str | None = Field(default=None, description="claim check: file:// URI of an uploaded CSV")
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    skip_invalid: bool = False
    naive_timestamps_in_exchange_tz: bool = Field(
        default=False, description="read timestamps without a zone in the exchange's time zone"
    )
    price_adjustment: BarAdjustment = Field(
        default=BarAdjustment.RAW,
        description="RAW: prices as in the file; ADJUSTED: open/high/low/close scaled by the file's Adj Close / "
        "Close per row (the file must have Adj Close)",
    )


class IngestProgress(Payload):
    job_id: UUID
    instrument_id: str
    rows_done: int = Field(ge=0)
    rows_total: int | None = Field(default=None, ge=0)


class IngestFailed(Payload):
    job_id: UUID
    instrument_id: str
    error: SummaryText
    rows_loaded: int = 0
    rows_rejected: int = 0
    errors: RowErrors = Field(default_factory=list, description=f"the first {MAX_ROW_ERRORS} rejected rows")
    errors_total: int = 0


class BarsLoaded(Payload):
    job_id: UUID | None = None
    instrument_id: str
    timeframe: Timeframe
    first: AwareDatetime
    last: AwareDatetime
    rows: int = Field(ge=0, description="rows written (inserted + updated)")
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = Field(default=0, ge=0, description="valid rows identical to the bars already stored")
    rows_rejected: int = Field(default=0, description="rejected rows in all (errors lists the first ones)")
    errors: RowErrors = Field(default_factory=list, description=f"the first {MAX_ROW_ERRORS} rejected rows")
    price_adjustment: BarAdjustment = Field(default=BarAdjustment.RAW, description="as requested")
    notes: Warnings = Field(default_factory=list, description="about the file as a whole, e.g. an Adj Close ignored")
    warnings: ImportWarnings = Field(
        default_factory=list, description=f"data-quality findings, {MAX_IMPORT_WARNINGS_PER_KIND} per kind at most"
    )
    warning_counts: dict[ImportWarningKind, int] = Field(default_factory=dict, description="findings in all, per kind")


class StrategySpec(Payload):
    id: UUID | None = None
    name: str | None = None
    strategy_type: str = Field(
        min_length=1,
        max_length=64,
        examples=["SMA_CROSSOVER"],
        description="a registered strategy type (GET /api/v1/strategy-types); the engine fails a request for "
        "a type it does not have, with that reason",
    )
    parameters: dict[str, Any]


class BacktestRequested(Payload):
    backtest_id: UUID = Field(description="id of the BacktestResult the engine will write")
    user_id: UUID
    configuration: BacktestConfiguration
    strategy: StrategySpec
    timeframe: Timeframe = Field(default=Timeframe.BAR_DAILY, description="bars the strategy runs on")
    requested_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    sweep_id: UUID | None = Field(
        default=None,
        description="set by the gateway on a sweep's children (no per-run progress steps or report: the sweep "
        "reports); null otherwise",
    )
    data_as_of: AwareDatetime | None = Field(
        default=None,
        description="read the market data as it was at this system time (a reproduction of a result sets the "
        "original's); null: the current bars, and the engine records the time it read them",
    )
    warmup_start: date | None = Field(
        default=None,
        description="warm-up: the bars from this date up to configuration.start_date feed the strategy's "
        "indicators but are never traded on (the gateway sets it on walk-forward out-of-sample windows); the "
        "result covers start_date..end_date only. Null: no warm-up",
    )

    @model_validator(mode="after")
    def _warmup_before_start(self) -> BacktestRequested:
        if self.warmup_start is not None and self.warmup_start >= self.configuration.start_date:
            raise ValueError(
                f"warmup_start {self.warmup_start} must be before configuration.start_date "
                f"{self.configuration.start_date}"
            )
        return self


class BacktestProgress(Payload):
    backtest_id: UUID
    user_id: UUID
    status: BacktestStatus
    progress_pct: float = Field(ge=0, le=100)
    estimated_completion: AwareDatetime | None = None
    message: SummaryText | None = None


class BacktestCompleted(Payload):
    backtest_id: UUID
    user_id: UUID
    configuration_id: UUID
    trades_count: int
    winning_trades: int
    losing_trades: int
    metrics: PerformanceMetrics
    start_date: date
    end_date: date
    initial_capital: Decimal
    final_value: Decimal
    warnings: Warnings = Field(default_factory=list)
    sweep_id: UUID | None = Field(default=None, description="copied from the request")


class BacktestFailed(Payload):
    backtest_id: UUID
    user_id: UUID
    configuration_id: UUID | None = None
    error_message: SummaryText
    sweep_id: UUID | None = Field(default=None, description="copied from the request")


class ReportGenerated(Payload):
    backtest_id: UUID
    report_id: UUID
    report_type: ReportType
    file_path: str
    content_hash: str


class SweepCompleted(Payload):
    """Every child of a sweep has finished (the gateway's read model saw the last one)."""

    sweep_id: UUID
    user_id: UUID
    status: Literal["COMPLETED", "FAILED"] = Field(description="FAILED when no child completed")
    total: int = Field(ge=0, description="backtests the sweep ran")
    completed: int = Field(ge=0)
    failed: int = Field(ge=0)
    objective: str = Field(description="metric of the data model's metrics JSON the leaderboard is sorted by")
    direction: Literal["maximize", "minimize"]
    best_backtest_id: UUID | None = None
    report_backtest_ids: list[UUID] = Field(
        default_factory=list, description="children that get a full report: the best ones and walk-forward runs"
    )


class BacktestCancelRequested(Payload):
    """The owner cancelled a backtest: a queued request is refused, a running one stops; either ends FAILED with
    shared.contracts.models.backtest.CANCELLED_BY_USER."""

    backtest_id: UUID
    user_id: UUID


class BacktestDeleted(Payload):
    """The owner deleted a finished backtest: the engine drops its result, trades and snapshots, reporting its
    reports and their files."""

    backtest_id: UUID
    user_id: UUID


class SweepDeleted(Payload):
    """The owner deleted a finished sweep: reporting drops the sweep's report (its children go one by one as
    backtest.deleted)."""

    sweep_id: UUID
    user_id: UUID


class MarketDataDeleteRequested(Payload):
    """The owner of an instrument (or an admin) deleted its bars: one timeframe, or every one (null).
    `keep_versions`: results were computed from these bars, so they leave the current data but stay readable
    as of those results' data_as_of (they move to the history, replaced now); otherwise nothing is kept."""

    instrument_id: str
    timeframe: Timeframe | None = None
    user_id: UUID
    keep_versions: bool = False


TOPIC_PAYLOADS: dict[str, type[Payload]] = {
    topics.INGEST_REQUESTED: IngestRequested,
    topics.INGEST_PROGRESS: IngestProgress,
    topics.INGEST_FAILED: IngestFailed,
    topics.BARS_LOADED: BarsLoaded,
    topics.BACKTEST_REQUESTED: BacktestRequested,
    topics.BACKTEST_PROGRESS: BacktestProgress,
    topics.BACKTEST_COMPLETED: BacktestCompleted,
    topics.BACKTEST_FAILED: BacktestFailed,
    topics.REPORT_GENERATED: ReportGenerated,
    topics.SWEEP_COMPLETED: SweepCompleted,
    topics.BACKTEST_CANCEL_REQUESTED: BacktestCancelRequested,
    topics.BACKTEST_DELETED: BacktestDeleted,
    topics.SWEEP_DELETED: SweepDeleted,
    topics.MARKET_DATA_DELETE_REQUESTED: MarketDataDeleteRequested,
}

P = TypeVar("P", bound=Payload)


class Envelope(BaseModel, Generic[P]):
    """CloudEvents-style envelope; `type` is the topic."""

    model_config = ConfigDict(frozen=True)

    id: UUID = Field(default_factory=uuid4)
    type: str
    source: str = Field(description="producing service, e.g. bts/engine")
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = Field(default=None, description="id of the entity the event is about")
    correlation_id: str = Field(default_factory=lambda: str(uuid4()))
    schema_version: int = SCHEMA_VERSION
    data: P


def make_event(
    topic: str, data: P, *, source: str, subject: str | None = None, correlation_id: str | None = None
) -> Envelope[P]:
    expected = TOPIC_PAYLOADS.get(topic)
    if expected is None:
        raise ValueError(f"unknown topic {topic!r}; known: {', '.join(sorted(TOPIC_PAYLOADS))}")
    if not isinstance(data, expected):
        raise TypeError(f"topic {topic} carries {expected.__name__}, not {type(data).__name__}")
    extra = {"correlation_id": correlation_id} if correlation_id else {}
    return Envelope[P](type=topic, source=source, subject=subject, data=data, **extra)


def parse_event(topic: str, raw: bytes | str) -> Envelope[Any]:
    """Validate a message of `topic`; raises ValueError (pydantic's ValidationError is one) with the reason."""
    payload = TOPIC_PAYLOADS.get(topic)
    if payload is None:
        raise ValueError(f"no payload model for topic {topic!r}")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"message is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError(f"an event is a JSON object with an envelope, got {type(document).__name__}")
    if document.get("type") != topic:
        raise ValueError(f"envelope type {document.get('type')!r} does not match topic {topic!r}")
    envelope: Envelope[Any] = Envelope[payload].model_validate(document)  # type: ignore[valid-type]
    return envelope
