"""A sweep's life in the gateway: publish children, release the next as each finishes, run the
walk-forward's out-of-sample windows, and announce the end (sweep.completed).

Everything here runs inside the caller's unit of work (the POST's, or the read model's idempotent
one), with the sweep row locked, so two gateway replicas never release the same child and an event
seen twice changes nothing. Publishing goes through the outbox: it leaves only if the unit commits.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from uuid import UUID

import structlog

from services.api.domain.sweep_queue import first_release
from services.api.repository.sweeps import ChildRecord, SweepRecord
from services.api.service_layer import SOURCE
from services.api.service_layer.unit_of_work import UnitOfWork
from shared.contracts import topics
from shared.contracts.events import (
    BacktestCompleted,
    BacktestFailed,
    BacktestRequested,
    StrategySpec,
    SweepCompleted,
    make_event,
)
from shared.contracts.models import BacktestConfiguration, Timeframe
from shared.contracts.models.backtest import CANCELLED_BY_USER
from shared.contracts.models.enums import BacktestStatus, SweepChildState, SweepPhase
from shared.contracts.models.objectives import objective
from shared.contracts.models.walk_forward import warmup_start

log = structlog.get_logger()


def child_request(sweep: SweepRecord, child: ChildRecord) -> BacktestRequested:
    assert child.backtest_id is not None
    values = {k: v for k, v in sweep.configuration.items() if k not in {"start_date", "end_date"}}
    config = BacktestConfiguration(
        strategy_id=sweep.strategy_id or sweep.id,  # a sweep over a type: the sweep stands for the strategy
        start_date=child.start_date,
        end_date=child.end_date,
        **values,
    )
    label = sweep.name or f"sweep {str(sweep.id)[:8]}"
    where = "" if child.window_index is None else f" window {child.window_index} {child.phase.lower()}"
    warmup = None
    if child.phase == SweepPhase.OUT_OF_SAMPLE and sweep.walk_forward is not None:
        # the indicators warm up on the bars before the window, so the window trades on its own signals
        warmup = warmup_start(child.start_date, int(sweep.walk_forward["in_sample_months"]))
    return BacktestRequested(
        backtest_id=child.backtest_id,
        user_id=sweep.user_id,
        configuration=config,
        timeframe=Timeframe(sweep.timeframe),
        sweep_id=sweep.id,
        strategy=StrategySpec(
            id=sweep.strategy_id,
            name=f"{label} #{child.combination}{where}",
            strategy_type=sweep.strategy_type,
            parameters=child.parameters,
        ),
        warmup_start=warmup,
    )


async def publish(uow: UnitOfWork, sweep: SweepRecord, child: ChildRecord, key: str, now: datetime) -> None:
    request = child_request(sweep, child)
    event = make_event(
        topics.BACKTEST_REQUESTED,
        request,
        source=SOURCE,
        subject=str(request.backtest_id),
        correlation_id=str(sweep.id),
    )
    await uow.outbox.publish(event, key=key)
    await uow.backtests.record_requested(request, now)
    await uow.sweeps.mark_published(sweep.id, child.n, key, now)


async def release(uow: UnitOfWork, sweep: SweepRecord, keys: list[str], now: datetime) -> int:
    """Publish the next queued children, one on each of `keys`."""
    children = await uow.sweeps.next_queued(sweep.id, len(keys))
    for child, key in zip(children, keys, strict=False):
        await publish(uow, sweep, child, key, now)
    return len(children)


async def start(uow: UnitOfWork, sweep: SweepRecord, queued: int, per_partition: int, now: datetime) -> int:
    """The first children: `per_partition` on each of the sweep's keys."""
    count = first_release(queued, len(sweep.kafka_keys), per_partition)
    keys = [sweep.kafka_keys[i % len(sweep.kafka_keys)] for i in range(count)]
    return await release(uow, sweep, keys, now)


async def on_backtest_finished(uow: UnitOfWork, data: BacktestCompleted | BacktestFailed, now: datetime) -> None:
    """A backtest finished: if it is a sweep child, record it, release the next one, and move the sweep on.
    Seen twice, the second changes nothing (the child is finished already)."""
    async with uow:
        await _child_finished(uow, data, now)
        await uow.commit()


async def _child_finished(uow: UnitOfWork, data: BacktestCompleted | BacktestFailed, now: datetime) -> None:
    sweep_id = data.sweep_id
    if sweep_id is None:  # also children whose engine predates the field: look the backtest up
        sweep_id = await uow.sweeps.of_backtest(data.backtest_id)
        if sweep_id is None:
            return
    sweep = await uow.sweeps.for_update(sweep_id)  # serialises every change to this sweep
    if sweep is None:
        return
    if isinstance(data, BacktestCompleted):
        metrics = data.metrics.model_dump(mode="json")
        value = objective(sweep.objective, sweep.direction).value(metrics)  # type: ignore[arg-type]
        child = await uow.sweeps.finish_child(
            data.backtest_id, SweepChildState.COMPLETED, value, metrics, data.trades_count, None, now
        )
    else:
        child = await uow.sweeps.finish_child(
            data.backtest_id, SweepChildState.FAILED, None, None, None, data.error_message, now
        )
    if child is None:  # not a child, or seen already
        return
    if sweep.status == BacktestStatus.PENDING:
        await uow.sweeps.set_status(sweep.id, BacktestStatus.RUNNING, now)
    if sweep.error_message != CANCELLED_BY_USER:  # a cancelled sweep queues and releases nothing more
        if child.phase == SweepPhase.IN_SAMPLE and child.window_index is not None:
            await _close_window(uow, sweep, child.window_index, now)
        await release(uow, sweep, [child.kafka_key or sweep.kafka_keys[0]], now)
    if await uow.sweeps.open_children(sweep.id) == 0:
        await finish(uow, sweep, now)


async def _close_window(uow: UnitOfWork, sweep: SweepRecord, window: int, now: datetime) -> None:
    """Once every in-sample run of a window finished: queue the best parameters out of sample."""
    still_open, has_oos = await uow.sweeps.window_open(sweep.id, window)
    if still_open or has_oos:
        return
    best = await uow.sweeps.ranked(sweep.id, sweep.direction, 1, (SweepPhase.IN_SAMPLE,), window, completed_only=True)
    spec = (sweep.walk_forward or {})["windows"][window]
    oos_start, oos_end = date.fromisoformat(spec["out_of_sample_start"]), date.fromisoformat(spec["out_of_sample_end"])
    n = await uow.sweeps.max_n(sweep.id) + 1
    if not best:
        failed = ChildRecord(
            sweep_id=sweep.id,
            n=n,
            backtest_id=None,
            combination=0,
            phase=SweepPhase.OUT_OF_SAMPLE,
            window_index=window,
            priority=0,
            parameters={},
            start_date=oos_start,
            end_date=oos_end,
            state=SweepChildState.FAILED,
            kafka_key=None,
            prescreen_score=None,
            objective_value=None,
            metrics=None,
            trades_count=None,
            error_message=f"no in-sample run of window {window} completed: nothing to take out of sample",
            published_at=None,
            finished_at=now,
        )
        await uow.sweeps.add_children([failed])
        return
    chosen = best[0]
    oos = ChildRecord(
        sweep_id=sweep.id,
        n=n,
        backtest_id=uuid.uuid4(),
        combination=chosen.combination,
        phase=SweepPhase.OUT_OF_SAMPLE,
        window_index=window,
        priority=0,
        parameters=chosen.parameters,
        start_date=oos_start,
        end_date=oos_end,
        state=SweepChildState.QUEUED,
        kafka_key=None,
        prescreen_score=None,
        objective_value=None,
        metrics=None,
        trades_count=None,
        error_message=None,
        published_at=None,
        finished_at=None,
    )
    await uow.sweeps.add_children([oos])


async def finish(uow: UnitOfWork, sweep: SweepRecord, now: datetime) -> None:
    """Every child finished: the sweep is COMPLETED (FAILED if none completed), announced on sweep.completed."""
    counts = await uow.sweeps.state_counts(sweep.id)
    completed, failed = counts.get(SweepChildState.COMPLETED, 0), counts.get(SweepChildState.FAILED, 0)
    status = BacktestStatus.COMPLETED if completed else BacktestStatus.FAILED
    error = None if completed else "no backtest of the sweep completed; see the children's error messages"
    await uow.sweeps.set_status(sweep.id, status, now, error)
    best = await uow.sweeps.ranked(sweep.id, sweep.direction, max(sweep.report_top, 1), completed_only=True)
    oos = [c.backtest_id for c in await uow.sweeps.out_of_sample(sweep.id) if c.backtest_id is not None]
    reported: list[UUID] = [c.backtest_id for c in best[: sweep.report_top] if c.backtest_id is not None] + oos
    data = SweepCompleted(
        sweep_id=sweep.id,
        user_id=sweep.user_id,
        status=status,
        total=completed + failed,
        completed=completed,
        failed=failed,
        objective=sweep.objective,
        direction=sweep.direction,  # type: ignore[arg-type]
        best_backtest_id=best[0].backtest_id if best else None,
        report_backtest_ids=list(dict.fromkeys(reported)),
    )
    event = make_event(topics.SWEEP_COMPLETED, data, source=SOURCE, subject=str(sweep.id), correlation_id=str(sweep.id))
    await uow.outbox.publish(event, key=str(sweep.user_id))
    log.info("sweep finished", sweep_id=str(sweep.id), status=status, completed=completed, failed=failed)


def leaderboard_metrics(metrics: dict[str, Any] | None) -> dict[str, float | None]:
    m = metrics or {}
    returns, risk, trading = m.get("returns") or {}, m.get("risk") or {}, m.get("trading") or {}
    return {
        "total_return": returns.get("total_return"),
        "cagr": returns.get("cagr"),
        "sharpe_ratio": risk.get("sharpe_ratio"),
        "max_drawdown": risk.get("max_drawdown"),
        "win_rate": trading.get("win_rate"),
    }
