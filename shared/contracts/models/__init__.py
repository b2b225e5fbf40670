"""The data model's entities and enums as pydantic v2 models, with every rule checkable on one object.

A name is imported from its module when first used (PEP 562), so `from shared.contracts.models import Timeframe`
loads the enums only, not pydantic and numpy: the CLI starts at once (tests/unit/test_cli_imports.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.contracts.models.backtest import BacktestConfiguration, BacktestResult
    from shared.contracts.models.commission import CommissionModel
    from shared.contracts.models.enums import (
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
    from shared.contracts.models.errors import DomainError, IllegalTransitionError, ReadOnlyError
    from shared.contracts.models.instrument import Instrument, Session, TradingHours
    from shared.contracts.models.market_data import Bar, MarketData
    from shared.contracts.models.metrics import (
        BenchmarkMetrics,
        PerformanceMetrics,
        ReturnMetrics,
        RiskMetrics,
        TradingMetrics,
    )
    from shared.contracts.models.parameters import (
        MeanReversionParameters,
        MomentumParameters,
        ParameterError,
        SmaCrossoverParameters,
        StrategyParameters,
        validate_parameters,
    )
    from shared.contracts.models.report import PerformanceReport, sha256_of_file, verify_report_file
    from shared.contracts.models.responses import BacktestStatusResponse, StrategyResponse
    from shared.contracts.models.strategy import TradingStrategy
    from shared.contracts.models.trade import Trade
    from shared.contracts.models.transitions import STRATEGY_TRANSITIONS, next_strategy_status

# The modules that define the names below, cheapest first: a name is looked up in them in this order.
_MODULES = (
    "enums",
    "errors",
    "transitions",
    "commission",
    "metrics",
    "instrument",
    "market_data",
    "trade",
    "report",
    "responses",
    "parameters",
    "strategy",
    "backtest",
)

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


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module in _MODULES:
        found = getattr(importlib.import_module(f"{__name__}.{module}"), name, None)
        if found is not None:
            globals()[name] = found  # the next lookup is a plain attribute
            return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
