"""What `POST /backtests` checks before it publishes (pure): each problem names its field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.contracts.models import StrategyStatus
from shared.contracts.models.backtest import MIN_TRADING_DAYS
from shared.contracts.models.strategy import TradingStrategy
from shared.domain.benchmark import BenchmarkChoice
from shared.strategy_types import ParameterError, UnknownStrategyType, get_strategy_type


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


def not_active(strategy: TradingStrategy) -> str:
    """Why a strategy cannot be backtested, and the way on: activate a DRAFT; an ARCHIVED one stays archived,
    so clone it (a new DRAFT with the same type and parameters)."""
    way_on = (
        f"clone it (POST /strategies/{strategy.id}/clone), then activate the copy"
        if strategy.status is StrategyStatus.ARCHIVED
        else f"POST /strategies/{strategy.id}/activate"
    )
    return f"strategy {strategy.id} is {strategy.status}: only ACTIVE strategies can be backtested ({way_on})"


def strategy_problems(strategy: TradingStrategy | None, strategy_id: object) -> list[Problem]:
    if strategy is None:
        return [Problem("body.strategy_id", f"no strategy {strategy_id} among yours")]
    if strategy.status is not StrategyStatus.ACTIVE:
        return [Problem("body.strategy_id", not_active(strategy))]
    try:  # a plugin uninstalled (or changed) since the strategy was made
        get_strategy_type(strategy.strategy_type).validate(strategy.parameters)
    except UnknownStrategyType as exc:
        return [Problem("body.strategy_id", f"strategy {strategy.id}: {exc}")]
    except ParameterError as exc:
        return [
            Problem(
                "body.strategy_id",
                f"strategy {strategy.id}: its parameters no longer match {strategy.strategy_type}: {exc}",
            )
        ]
    return []


def instrument_problems(requested: Sequence[str], known: set[str]) -> list[Problem]:
    return [
        Problem(f"body.instrument_ids.{i}", f"unknown instrument {iid}: register it first (POST /instruments)")
        for i, iid in enumerate(requested)
        if iid not in known
    ]


def data_problems(requested: Sequence[str], sessions_with_bars: Mapping[str, int], timeframe: str) -> list[Problem]:
    """At least 30 trading days of bars in the period, per instrument (the data model's business rule)."""
    return [
        Problem(
            f"body.instrument_ids.{i}",
            f"{iid} has {sessions_with_bars[iid]} trading day(s) of {timeframe} data "
            f"in the period; at least {MIN_TRADING_DAYS} are required (load data: POST /market-data/import)",
        )
        for i, iid in enumerate(requested)
        if iid in sessions_with_bars and sessions_with_bars[iid] < MIN_TRADING_DAYS
    ]


def benchmark_problems(choice: BenchmarkChoice, where: str = "") -> list[Problem]:
    """A benchmark_symbol that resolves to no instrument: ambiguous, unknown or without data (the default SPY
    without data is tolerated: the run reports null benchmark metrics, as the engine does)."""
    if choice.tolerated:
        return []
    return [Problem("body.benchmark_symbol", f"{where}benchmark_symbol {choice.name}: {choice.problem}")]
