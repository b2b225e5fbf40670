"""Submitting a backtest: checked against the stored facts, then recorded and published in one unit."""

from __future__ import annotations

import uuid
from uuid import UUID

from services.api.domain.submission import Problem, strategy_problems
from services.api.service_layer import SOURCE
from services.api.service_layer.submission import Period, Refused, data_check
from services.api.service_layer.unit_of_work import UnitOfWork
from shared.contracts import topics
from shared.contracts.events import BacktestRequested, StrategySpec, make_event
from shared.contracts.models import Timeframe
from shared.contracts.models.backtest import BacktestConfiguration


async def submit_backtest(
    uow: UnitOfWork, user_id: UUID, config: BacktestConfiguration, timeframe: Timeframe, correlation_id: str | None
) -> UUID:
    """The new backtest's id, PENDING, its request in the outbox (keyed by user: one user's runs stay in
    order); Refused with every problem found (strategy, instruments, data, benchmark)."""
    strategy = await uow.strategies.get(user_id, config.strategy_id)
    problems: list[Problem] = strategy_problems(strategy, config.strategy_id)
    problems += await data_check(uow, config, timeframe.value, [Period(config.start_date, config.end_date)])
    if problems or strategy is None:
        raise Refused(problems)
    request = BacktestRequested(
        backtest_id=uuid.uuid4(),
        user_id=user_id,
        configuration=config,
        timeframe=timeframe,
        strategy=StrategySpec(
            id=strategy.id, name=strategy.name, strategy_type=strategy.strategy_type, parameters=strategy.parameters
        ),
    )
    event = make_event(
        topics.BACKTEST_REQUESTED,
        request,
        source=SOURCE,
        subject=str(request.backtest_id),
        correlation_id=correlation_id,
    )
    async with uow:
        await uow.backtests.add_configuration(request)
        await uow.backtests.record_requested(request, request.requested_at)
        await uow.outbox.publish(event, key=str(user_id))
        await uow.commit()
    return request.backtest_id
