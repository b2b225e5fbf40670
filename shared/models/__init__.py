"""The data model's entities and enums as pydantic v2 models, with every rule checkable on one object."""

from shared.models.backtest import BacktestConfiguration, BacktestResult
from shared.models.commission import CommissionModel
from shared.models.enums import (
    AssetClass,
    BacktestStatus,
    CommissionType,
    Currency,
    DataSource,
    ReportType,
    SnapshotKind,
    StrategyStatus,
    StrategyType,
    Timeframe,
    TradeSide,
)
from shared.models.errors import DomainError, IllegalTransitionError, ReadOnlyError
from shared.models.instrument import Instrument, Session, TradingHours
from shared.models.market_data import Bar, MarketData
from shared.models.metrics import BenchmarkMetrics, PerformanceMetrics, ReturnMetrics, RiskMetrics, TradingMetrics
from shared.models.parameters import (
    MeanReversionParameters,
    MomentumParameters,
    ParameterError,
    SmaCrossoverParameters,
    StrategyParameters,
    validate_parameters,
)
from shared.models.report import PerformanceReport, sha256_of_file, verify_report_file
from shared.models.responses import BacktestStatusResponse, StrategyResponse
from shared.models.strategy import TradingStrategy
from shared.models.trade import Trade
from shared.models.transitions import STRATEGY_TRANSITIONS, next_strategy_status

__all__ = [
    "STRATEGY_TRANSITIONS",
    "AssetClass",
    "BacktestConfiguration",
    "BacktestResult",
    "BacktestStatus",
    "BacktestStatusResponse",
    "Bar",
    "BenchmarkMetrics",
    "CommissionModel",
    "CommissionType",
    "Currency",
    "DataSource",
    "DomainError",
    "IllegalTransitionError",
    "Instrument",
    "MarketData",
    "MeanReversionParameters",
    "MomentumParameters",
    "ParameterError",
    "PerformanceMetrics",
    "PerformanceReport",
    "ReadOnlyError",
    "ReportType",
    "ReturnMetrics",
    "RiskMetrics",
    "Session",
    "SmaCrossoverParameters",
    "SnapshotKind",
    "StrategyParameters",
    "StrategyResponse",
    "StrategyStatus",
    "StrategyType",
    "Timeframe",
    "Trade",
    "TradeSide",
    "TradingHours",
    "TradingMetrics",
    "TradingStrategy",
    "next_strategy_status",
    "sha256_of_file",
    "validate_parameters",
    "verify_report_file",
]
