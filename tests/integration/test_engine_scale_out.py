"""Engine replicas share one consumer group: two engine processes, requests from several users, every
request completed exactly once, and both replicas did work; a user's second request waits for the first."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from bts.stackfile import StackFile
from shared.contracts import topics
from shared.contracts.events import BacktestRequested, StrategySpec, make_event
from shared.contracts.models import BacktestConfiguration, StrategyType
from shared.platform.db.urls import asyncpg_dsn
from tests.integration.conftest import publish, wait_for_events
from tests.integration.engine_replicas import (
    EngineReplica,
    finished_backtests,
    users_covering_every_partition,
    wait_until_shared,
)
from tests.integration.market import load_daily_symbols, register_owners

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def second_engine(running_stack: StackFile, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    stack = running_stack
    first = next(s for s in stack.services if s.name == "engine")
    replica = EngineReplica(
        stack.database_url,
        stack.kafka_bootstrap,
        tmp_path_factory.mktemp("engine2"),
        "engine2",
        state_dir=Path(first.log).parent.parent,
    )
    try:
        replica.wait_ready(within=60)
        yield replica.log
    finally:
        replica.stop()


def test_two_engine_replicas_share_the_work_exactly_once(
    running_stack: StackFile, second_engine: Path, tmp_path: Path
) -> None:
    stack = running_stack
    asyncio.run(load_daily_symbols(stack.database_url, tmp_path, ("SCA", "SCB")))
    wait_until_shared([Path(next(s.log for s in stack.services if s.name == "engine")), second_engine])
    users = users_covering_every_partition(8)
    events = []
    for user in users:
        config = BacktestConfiguration(
            strategy_id=uuid.uuid4(),
            instrument_ids=["SCA.NASDAQ", "SCB.NASDAQ"],
            start_date=date(2020, 1, 1),
            end_date=date(2021, 12, 31),
        )
        strategy = StrategySpec(
            strategy_type=StrategyType.SMA_CROSSOVER, parameters={"fast_period": 5, "slow_period": 20}
        )
        request = BacktestRequested(backtest_id=uuid.uuid4(), user_id=user, configuration=config, strategy=strategy)
        events.append(
            (
                make_event(
                    topics.BACKTEST_REQUESTED, request, source="test/producer", subject=str(request.backtest_id)
                ),
                str(user),
            )
        )
    # The first user asks twice: the second request waits its turn (same key, same partition, in order).
    first_user = events[0]
    second_config = BacktestConfiguration(
        strategy_id=uuid.uuid4(),
        instrument_ids=["SCA.NASDAQ"],
        start_date=date(2020, 1, 1),
        end_date=date(2021, 12, 31),
    )
    again = BacktestRequested(
        backtest_id=uuid.uuid4(),
        user_id=users[0],
        configuration=second_config,
        strategy=StrategySpec(
            strategy_type=StrategyType.SMA_CROSSOVER, parameters={"fast_period": 3, "slow_period": 10}
        ),
    )
    events.insert(
        1,
        (
            make_event(topics.BACKTEST_REQUESTED, again, source="test/producer", subject=str(again.backtest_id)),
            str(users[0]),
        ),
    )
    asyncio.run(register_owners(stack.database_url, [e.data for e, _ in events]))
    asyncio.run(publish(stack.kafka_bootstrap, events))
    ids = {str(e.data.backtest_id) for e, _ in events}
    completed = asyncio.run(wait_for_events(stack.kafka_bootstrap, topics.BACKTEST_COMPLETED, ids, within=180))
    assert {str(e.data.backtest_id) for e in completed} == ids

    async def rows() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
        try:
            return list(
                await conn.fetch(
                    "SELECT id, status, started_at, completed_at, "
                    "(SELECT count(*) FROM engine.trades t WHERE t.backtest_result_id = r.id) AS n "
                    "FROM engine.backtest_results r WHERE id = ANY($1::uuid[])",
                    [uuid.UUID(i) for i in ids],
                )
            )
        finally:
            await conn.close()

    results = asyncio.run(rows())
    assert len(results) == 9
    assert {r["status"] for r in results} == {"COMPLETED"}
    by_id = {r["id"]: r for r in results}
    earlier, later = by_id[first_user[0].data.backtest_id], by_id[again.backtest_id]
    assert later["started_at"] >= earlier["completed_at"]  # one running backtest per user, none lost
    first = finished_backtests(Path(next(s.log for s in stack.services if s.name == "engine")), ids)
    second = finished_backtests(second_engine, ids)
    assert first, "the first replica did nothing"
    assert second, "the second replica did nothing"
    assert first | second == ids
    assert not first & second  # each request was run once
