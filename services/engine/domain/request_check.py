"""Whether a `backtest.requested` may run: the engine trusts no producer (pure; the facts come through a port).

The gateway checks the same before it publishes, but anyone who can write the topic can publish a
request: the configuration is held to the shared model's limits (as REST is), and the user, their
strategy, the instruments and, for a sweep's child, its sweep are looked up in the tables that own them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from pydantic import ConfigDict, Field, ValidationError

from shared.events import BacktestRequested, Envelope, Payload, parse_event
from shared.models.enums import TERMINAL_STATUSES
from shared.models.errors import FieldProblem, field_problems
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


class UncheckedRequest(Payload):
    """A `backtest.requested` whose envelope and ids parse but whose content breaks the shared model's rules:
    enough to write its FAILED result (with the field problems) and tell the user why."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    backtest_id: UUID
    user_id: UUID
    configuration: dict[str, Any] = Field(default_factory=dict)
    sweep_id: UUID | None = None
    problems: list[str] = Field(default_factory=list)

    @property
    def configuration_id(self) -> UUID:
        """The configuration's id when it parses, else the backtest's (a result row needs one)."""
        try:
            return UUID(str(self.configuration.get("id")))
        except ValueError:
            return self.backtest_id


def configuration_problems(exc: ValidationError) -> list[FieldProblem]:
    """A refused request's problems, named as REST names them (without REST's `body.` and the event's
    `data.configuration.`), so the same mistake reads the same whichever way it came."""
    problems = []
    for problem in field_problems(exc.errors(), drop=1):  # the envelope's `data`
        problems.append(
            FieldProblem(problem.field.removeprefix("configuration."), problem.message, problem.type)
            if problem.field.startswith("configuration.")
            else problem
        )
    return problems


def parse_request(topic: str, raw: bytes | str) -> Envelope[Any]:
    """`parse_event`, except that a request whose payload breaks the rules but names its backtest and user
    comes back as an `UncheckedRequest` (to be FAILED with its problems); anything less raises ValueError
    (the dead-letter topic)."""
    try:
        return parse_event(topic, raw)
    except ValidationError as exc:
        if any(not error["loc"] or error["loc"][0] != "data" for error in exc.errors()):
            raise  # the envelope itself is broken
        document = json.loads(raw)
        data = document.get("data")
        if not isinstance(data, dict):
            raise
        try:
            unchecked = UncheckedRequest.model_validate(
                {**data, "problems": [str(p) for p in configuration_problems(exc)]}
            )
        except ValidationError:
            raise exc from None  # not even the ids: nothing to fail, the message is dead-lettered
        envelope: Envelope[Any] = Envelope[UncheckedRequest].model_validate({**document, "data": unchecked})
        return envelope


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
