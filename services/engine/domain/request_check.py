"""Whether a `backtest.requested` may run: the engine trusts no producer (pure; the facts come through a port).

The gateway checks the same before it publishes, but anyone who can write the topic can publish a
request: the configuration is held to the shared model's limits (as REST is), and the user, their
strategy, the instruments and, for a sweep's child, its sweep are looked up in the tables that own them.
(A request that breaks the model's rules never gets here: see `shared.contracts.raw_requests`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from shared.contracts.events import BacktestRequested
from shared.contracts.models.enums import TERMINAL_STATUSES
from shared.strategy_types import ParameterError, UnknownStrategyType, get_strategy_type


@dataclass(frozen=True)
class StrategyFacts:
    id: UUID
    user_id: UUID
    strategy_type: str
    status: str


@dataclass(frozen=True)
class SweepFacts:
    id: UUID
    user_id: UUID
    status: str
    strategy_id: UUID | None
    strategy_type: str


class RequestFacts(Protocol):
    """What the check needs to know, from the tables that own it."""

    async def user_exists(self, user_id: UUID) -> bool: ...

    async def strategy(self, strategy_id: UUID) -> StrategyFacts | None: ...

    async def sweep(self, sweep_id: UUID) -> SweepFacts | None: ...

    async def known_instruments(self, instrument_ids: list[str]) -> set[str]: ...


async def request_problems(request: BacktestRequested, facts: RequestFacts) -> list[str]:
    """Why `request` may not run (empty: it may). Each problem names its field."""
    if not await facts.user_exists(request.user_id):
        return [f"user_id: no user {request.user_id}"]
    problems = []
    config = request.configuration
    if request.sweep_id is not None:
        problems += await _sweep_problems(request, request.sweep_id, facts)
    else:
        problems += await _strategy_problems(request, facts)
    try:
        get_strategy_type(request.strategy.strategy_type).validate(request.strategy.parameters)
    except UnknownStrategyType as exc:
        problems.append(f"strategy.strategy_type: {exc}")
    except ParameterError as exc:
        problems += [f"strategy.{field}: {message}" for field, message in exc.errors]
    known = await facts.known_instruments(list(config.instrument_ids))
    problems += [
        f"instrument_ids.{i}: unknown instrument {iid}"
        for i, iid in enumerate(config.instrument_ids)
        if iid not in known
    ]
    return problems


async def _strategy_problems(request: BacktestRequested, facts: RequestFacts) -> list[str]:
    strategy_id = request.configuration.strategy_id
    strategy = await facts.strategy(strategy_id)
    if strategy is None or strategy.user_id != request.user_id:  # another user's strategy is as good as none
        return [f"strategy_id: no strategy {strategy_id} of user {request.user_id}"]
    if strategy.status != "ACTIVE":
        return [f"strategy_id: strategy {strategy_id} is {strategy.status}: only ACTIVE strategies can be backtested"]
    asked = request.strategy.strategy_type
    if strategy.strategy_type != asked:
        return [f"strategy.strategy_type: strategy {strategy_id} is a {strategy.strategy_type}, not a {asked}"]
    return []


async def _sweep_problems(request: BacktestRequested, sweep_id: UUID, facts: RequestFacts) -> list[str]:
    sweep = await facts.sweep(sweep_id)
    if sweep is None or sweep.user_id != request.user_id:
        return [f"sweep_id: no sweep {sweep_id} of user {request.user_id}"]
    if sweep.status in TERMINAL_STATUSES:
        return [f"sweep_id: sweep {sweep_id} is {sweep.status}: it runs no more backtests"]
    if request.configuration.strategy_id != (sweep.strategy_id or sweep.id):
        return [f"strategy_id: sweep {sweep_id} does not run strategy {request.configuration.strategy_id}"]
    asked = request.strategy.strategy_type
    if sweep.strategy_type != asked:
        return [f"strategy.strategy_type: sweep {sweep_id} sweeps {sweep.strategy_type}, not {asked}"]
    return []
