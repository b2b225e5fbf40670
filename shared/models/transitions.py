"""The data model's state machines as data: strategy DRAFT -> ACTIVE -> ARCHIVED; result PENDING -> RUNNING ->
COMPLETED | FAILED (and PENDING -> FAILED for a request rejected before it runs)."""

from __future__ import annotations

from typing import Final

from shared.models.enums import BacktestStatus, StrategyStatus
from shared.models.errors import IllegalTransitionError

STRATEGY_TRANSITIONS: Final[dict[StrategyStatus, frozenset[StrategyStatus]]] = {
    StrategyStatus.DRAFT: frozenset({StrategyStatus.ACTIVE}),
    StrategyStatus.ACTIVE: frozenset({StrategyStatus.ARCHIVED}),
    StrategyStatus.ARCHIVED: frozenset(),
}

RESULT_TRANSITIONS: Final[dict[BacktestStatus, frozenset[BacktestStatus]]] = {
    BacktestStatus.PENDING: frozenset({BacktestStatus.RUNNING, BacktestStatus.FAILED}),
    BacktestStatus.RUNNING: frozenset({BacktestStatus.COMPLETED, BacktestStatus.FAILED}),
    BacktestStatus.COMPLETED: frozenset(),
    BacktestStatus.FAILED: frozenset(),
}


def next_strategy_status(current: StrategyStatus, target: StrategyStatus) -> StrategyStatus:
    allowed = STRATEGY_TRANSITIONS[current]
    if target not in allowed:
        raise IllegalTransitionError("strategy", current, target, allowed)
    return target


def next_result_status(current: BacktestStatus, target: BacktestStatus) -> BacktestStatus:
    allowed = RESULT_TRANSITIONS[current]
    if target not in allowed:
        raise IllegalTransitionError("backtest result", current, target, allowed)
    return target
