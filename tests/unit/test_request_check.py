"""The engine's check of a `backtest.requested` from any producer, against in-memory facts."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from services.api.problems import validation_problem
from services.api.schemas import BacktestSubmit
from services.engine.domain.request_check import StrategyFacts, SweepFacts, request_problems
from shared.contracts import topics
from shared.contracts.events import BacktestRequested, StrategySpec, make_event
from shared.contracts.models import BacktestConfiguration
from shared.contracts.raw_requests import UncheckedRequest, parse_request

SMA = {"fast_period": 10, "slow_period": 30}


@dataclass
class Facts:
    users: set[UUID] = field(default_factory=set)
    strategies: dict[UUID, StrategyFacts] = field(default_factory=dict)
    sweeps: dict[UUID, SweepFacts] = field(default_factory=dict)
    instruments: set[str] = field(default_factory=lambda: {"AAPL.NASDAQ", "MSFT.NASDAQ"})

    async def user_exists(self, user_id: UUID) -> bool:
        return user_id in self.users

    async def strategy(self, strategy_id: UUID) -> StrategyFacts | None:
        return self.strategies.get(strategy_id)

    async def sweep(self, sweep_id: UUID) -> SweepFacts | None:
        return self.sweeps.get(sweep_id)

    async def known_instruments(self, instrument_ids: list[str]) -> set[str]:
        return self.instruments & set(instrument_ids)


ALICE, BOB = uuid4(), uuid4()


def _world() -> tuple[Facts, UUID]:
    strategy = uuid4()
    facts = Facts(users={ALICE, BOB})
    facts.strategies[strategy] = StrategyFacts(strategy, ALICE, "SMA_CROSSOVER", "ACTIVE")
    return facts, strategy


def _request(user: UUID, strategy: UUID, **changes: Any) -> BacktestRequested:
    instruments = changes.pop("instruments", ["AAPL.NASDAQ"])
    period = {"start_date": date(2020, 1, 2), "end_date": date(2020, 12, 31)}
    config = BacktestConfiguration(strategy_id=strategy, instrument_ids=instruments, **period)
    spec = StrategySpec(
        strategy_type=changes.pop("strategy_type", "SMA_CROSSOVER"), parameters=changes.pop("parameters", SMA)
    )
    return BacktestRequested(backtest_id=uuid4(), user_id=user, configuration=config, strategy=spec, **changes)


def _problems(request: BacktestRequested, facts: Facts) -> list[str]:
    return asyncio.run(request_problems(request, facts))


def test_the_owner_of_an_active_strategy_may_run_it() -> None:
    facts, strategy = _world()
    assert _problems(_request(ALICE, strategy), facts) == []


def test_another_users_strategy_is_refused() -> None:
    facts, strategy = _world()
    assert _problems(_request(BOB, strategy), facts) == [f"strategy_id: no strategy {strategy} of user {BOB}"]


def test_an_unknown_user_is_refused() -> None:
    facts, strategy = _world()
    stranger = uuid4()
    assert _problems(_request(stranger, strategy), facts) == [f"user_id: no user {stranger}"]


def test_a_strategy_that_is_not_active_is_refused() -> None:
    facts, strategy = _world()
    facts.strategies[strategy] = StrategyFacts(strategy, ALICE, "SMA_CROSSOVER", "ARCHIVED")
    [problem] = _problems(_request(ALICE, strategy), facts)
    assert problem.startswith("strategy_id:")
    assert "ARCHIVED" in problem


def test_unknown_parameters_instruments_and_a_type_mismatch_are_each_named() -> None:
    facts, strategy = _world()
    found = _problems(_request(ALICE, strategy, parameters={**SMA, "evil": 1}, instruments=["ZZZ.NASDAQ"]), facts)
    assert any(p.startswith("strategy.parameters.evil") for p in found), found
    assert "instrument_ids.0: unknown instrument ZZZ.NASDAQ" in found
    momentum = {"strategy_type": "MOMENTUM", "parameters": {"lookback": 10, "threshold": 0.01}}
    [mismatch] = _problems(_request(ALICE, strategy, **momentum), facts)
    assert mismatch.startswith("strategy.strategy_type:")


def test_a_sweep_child_needs_a_running_sweep_of_its_user() -> None:
    facts, _strategy = _world()
    sweep = uuid4()
    facts.sweeps[sweep] = SweepFacts(sweep, ALICE, "RUNNING", None, "SMA_CROSSOVER")
    assert _problems(_request(ALICE, sweep, sweep_id=sweep), facts) == []
    assert _problems(_request(BOB, sweep, sweep_id=sweep), facts) == [f"sweep_id: no sweep {sweep} of user {BOB}"]
    unknown = uuid4()
    assert _problems(_request(ALICE, sweep, sweep_id=unknown), facts)[0].startswith("sweep_id: no sweep")
    facts.sweeps[sweep] = SweepFacts(sweep, ALICE, "COMPLETED", None, "SMA_CROSSOVER")
    [done] = _problems(_request(ALICE, sweep, sweep_id=sweep), facts)
    assert "COMPLETED" in done


def _raw(request: BacktestRequested, **configuration: Any) -> bytes:
    document = json.loads(make_event(topics.BACKTEST_REQUESTED, request, source="outside").model_dump_json())
    document["data"]["configuration"].update(configuration)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "changes",
    [
        {"initial_capital": "1e15"},
        {"instrument_ids": [f"S{i}.NASDAQ" for i in range(120)]},
        {"position_size_pct": "50", "benchmark_symbol": "spy!"},
        {"instrument_ids": ["aapl.nasdaq"]},
        {"initial_capitol": "5000"},  # misspelt: REST forbids unknown fields, and so does the shared model
    ],
)
def test_kafka_refuses_what_rest_refuses_with_the_same_field_errors(changes: dict[str, Any]) -> None:
    _facts, strategy = _world()
    request = _request(ALICE, strategy)
    envelope = parse_request(topics.BACKTEST_REQUESTED, _raw(request, **changes))
    assert isinstance(envelope.data, UncheckedRequest)
    assert envelope.data.backtest_id == request.backtest_id
    assert envelope.data.user_id == ALICE

    period = {"start_date": "2020-01-02", "end_date": "2020-12-31"}
    body = {"strategy_id": str(strategy), "instrument_ids": ["AAPL.NASDAQ"], **period, **changes}
    with pytest.raises(ValidationError) as refused:
        BacktestSubmit.model_validate(body)
    rest = [f"{e.field.removeprefix('body.')}: {e.message}" for e in validation_problem(refused.value).problem.errors]
    assert sorted(envelope.data.problems) == sorted(rest)
    assert rest


def test_a_request_without_its_ids_cannot_be_failed_and_is_dead_lettered() -> None:
    _facts, strategy = _world()
    document = json.loads(_raw(_request(ALICE, strategy), initial_capital="1e15"))
    document["data"]["user_id"] = "not-a-uuid"
    with pytest.raises(ValueError, match="user_id"):
        parse_request(topics.BACKTEST_REQUESTED, json.dumps(document))
    with pytest.raises(ValueError, match="not JSON"):
        parse_request(topics.BACKTEST_REQUESTED, b"{nope")


def test_a_valid_request_parses_as_itself() -> None:
    _facts, strategy = _world()
    request = _request(ALICE, strategy)
    envelope = parse_request(topics.BACKTEST_REQUESTED, _raw(request))
    assert envelope.data == request
    assert envelope.data.configuration.initial_capital == Decimal(100_000)


def test_only_requests_are_read_leniently() -> None:
    document = {
        "id": str(uuid4()),
        "type": topics.BACKTEST_PROGRESS,
        "source": "outside",
        "time": "2024-01-01T00:00:00Z",
        "correlation_id": "c",
        "schema_version": 1,
        "data": {"backtest_id": str(uuid4()), "user_id": str(ALICE), "status": "RUNNING", "progress_pct": 500},
    }
    with pytest.raises(ValueError, match="progress_pct"):
        parse_request(topics.BACKTEST_PROGRESS, json.dumps(document))
