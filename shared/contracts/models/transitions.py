"""The strategy's state machine as data: DRAFT -> ACTIVE -> ARCHIVED. (A result's, PENDING -> RUNNING ->
COMPLETED | FAILED, is the engine's table's trigger; the gateway's read model follows events that may skip
a state, see services/api/domain/read_models.py.)"""

from __future__ import annotations

from typing import Final

from shared.contracts.models.enums import StrategyStatus
from shared.contracts.models.errors import IllegalTransitionError

STRATEGY_TRANSITIONS: Final[dict[StrategyStatus, frozenset[StrategyStatus]]] = {
    StrategyStatus.DRAFT: frozenset({StrategyStatus.ACTIVE}),
    StrategyStatus.ACTIVE: frozenset({StrategyStatus.ARCHIVED}),
    StrategyStatus.ARCHIVED: frozenset(),
}


def next_strategy_status(current: StrategyStatus, target: StrategyStatus) -> StrategyStatus:
    allowed = STRATEGY_TRANSITIONS[current]
    if target not in allowed:
        raise IllegalTransitionError("strategy", current, target, allowed)
    return target
