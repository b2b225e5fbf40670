"""The data model's enums; values are the data model's spellings."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Final


class StrategyType(StrEnum):
    SMA_CROSSOVER = "SMA_CROSSOVER"
    MEAN_REVERSION = "MEAN_REVERSION"
    MOMENTUM = "MOMENTUM"


class StrategyStatus(StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"


class AssetClass(StrEnum):
    EQUITY = "EQUITY"
    ETF = "ETF"
    FX = "FX"
    FUTURE = "FUTURE"
    OPTION = "OPTION"


class Currency(StrEnum):
    USD = "USD"
    EUR = "EUR"
    GBP = "GBP"
    JPY = "JPY"


class Timeframe(StrEnum):
    BAR_1MIN = "BAR_1MIN"
    BAR_5MIN = "BAR_5MIN"
    BAR_1HOUR = "BAR_1HOUR"
    BAR_DAILY = "BAR_DAILY"

    @property
    def bar_length(self) -> timedelta:
        return {
            "BAR_1MIN": timedelta(minutes=1),
            "BAR_5MIN": timedelta(minutes=5),
            "BAR_1HOUR": timedelta(hours=1),
            "BAR_DAILY": timedelta(days=1),
        }[self.value]


class DataSource(StrEnum):
    IBKR = "IBKR"
    CSV_FILE = "CSV_FILE"


class BacktestStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


# The statuses a backtest (and an import job, a sweep) never leaves.
TERMINAL_STATUSES: Final = frozenset({BacktestStatus.COMPLETED.value, BacktestStatus.FAILED.value})


class SweepChildState(StrEnum):
    """A sweep's child: QUEUED -> PUBLISHED (its backtest.requested sent) -> COMPLETED | FAILED; SCREENED_OUT
    when the pre-screen left it out (never run)."""

    QUEUED = "QUEUED"
    PUBLISHED = "PUBLISHED"
    SCREENED_OUT = "SCREENED_OUT"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class SweepPhase(StrEnum):
    """SWEEP: a combination over the whole period; walk-forward: IN_SAMPLE per combination and window, then
    OUT_OF_SAMPLE with each window's best parameters."""

    SWEEP = "SWEEP"
    IN_SAMPLE = "IN_SAMPLE"
    OUT_OF_SAMPLE = "OUT_OF_SAMPLE"


class TradeSide(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"


class ReportType(StrEnum):
    HTML = "HTML"
    CSV = "CSV"
    JSON = "JSON"


class CommissionType(StrEnum):
    PER_SHARE = "PER_SHARE"
    PERCENT = "PERCENT"
    FIXED = "FIXED"


class SnapshotKind(StrEnum):
    TRADE = "TRADE"
    DAILY = "DAILY"


class BarAdjustment(StrEnum):
    """How an imported file's prices were stored: as traded, or scaled by the file's `Adj Close`."""

    RAW = "RAW"
    ADJUSTED = "ADJUSTED"


class PriceAdjustment(StrEnum):
    """What a backtest does to RAW bars before it runs: nothing, back-adjust for splits, or for splits and
    cash dividends (bars imported ADJUSTED are never adjusted again)."""

    NONE = "NONE"
    SPLITS = "SPLITS"
    SPLITS_AND_DIVIDENDS = "SPLITS_AND_DIVIDENDS"


class CorporateActionType(StrEnum):
    SPLIT = "SPLIT"
    DIVIDEND = "DIVIDEND"
