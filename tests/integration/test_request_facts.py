"""The engine checks a request against the gateway's tables, as its own role (read-only grants)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date

import asyncpg
import pytest

from services.engine.domain.request_check import StrategyFacts, SweepFacts, request_problems
from services.engine.request_facts import TableFacts
from shared.contracts.events import BacktestRequested, StrategySpec
from shared.contracts.models import BacktestConfiguration

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
SMA = {"fast_period": 5, "slow_period": 20}


async def test_the_engine_reads_users_strategies_sweeps_and_instruments(
    admin_conn: asyncpg.Connection, connect_as: Callable[[str], Awaitable[asyncpg.Connection]]
) -> None:
    user, strategy, sweep = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await admin_conn.execute("INSERT INTO api.users (id, name) VALUES ($1, $2)", user, f"facts-{user}")
    await admin_conn.execute(
        "INSERT INTO api.strategies (id, user_id, name, strategy_type, parameters, status) "
        "VALUES ($1, $2, 'sma', 'SMA_CROSSOVER', $3::jsonb, 'ACTIVE')",
        strategy,
        user,
        '{"fast_period": 5, "slow_period": 20}',
    )
    await admin_conn.execute(
        "INSERT INTO api.sweeps (id, user_id, strategy_id, strategy_type, space, configuration, timeframe, "
        "objective, direction, combinations, total, kafka_keys, status) VALUES ($1, $2, $3, 'SMA_CROSSOVER', "
        "'{}', '{}', 'BAR_DAILY', 'sharpe_ratio', 'maximize', 1, 1, ARRAY['k'], 'RUNNING')",
        sweep,
        user,
        strategy,
    )
    await admin_conn.execute(
        "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
        "trading_hours, margin_requirement) VALUES ('FCT.NASDAQ', 'FCT', 'NASDAQ', 'EQUITY', 'USD', 0.01, 1, "
        "'{}', 25) ON CONFLICT DO NOTHING"
    )
    engine = await connect_as("engine")
    try:
        facts = TableFacts(engine)
        assert await facts.user_exists(user)
        assert not await facts.user_exists(uuid.uuid4())
        assert await facts.strategy(strategy) == StrategyFacts(strategy, user, "SMA_CROSSOVER", "ACTIVE")
        assert await facts.sweep(sweep) == SweepFacts(sweep, user, "RUNNING", strategy, "SMA_CROSSOVER")
        assert await facts.known_instruments(["FCT.NASDAQ", "NOPE.NASDAQ"]) == {"FCT.NASDAQ"}
        config = BacktestConfiguration(
            strategy_id=strategy,
            instrument_ids=["FCT.NASDAQ"],
            start_date=date(2020, 1, 2),
            end_date=date(2020, 12, 31),
        )
        request = BacktestRequested(
            backtest_id=uuid.uuid4(),
            user_id=user,
            configuration=config,
            strategy=StrategySpec(strategy_type="SMA_CROSSOVER", parameters=SMA),
        )
        assert await request_problems(request, facts) == []
        child = request.model_copy(update={"sweep_id": sweep})
        assert await request_problems(child, facts) == []
    finally:
        await engine.close()
