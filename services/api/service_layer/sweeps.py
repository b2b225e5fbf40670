"""Submitting a sweep: checked up front (every problem named), its space expanded, one backtest per
combination queued (walk-forward: per combination and in-sample window, then one per out-of-sample window),
and the first children published, all in one unit of work."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from services.api.domain import prescreen
from services.api.domain.submission import Problem
from services.api.domain.sweep_space import Range, Space, expand, parameter_model, space_problems
from services.api.repository.sweeps import ChildRecord, SweepRecord
from services.api.service_layer import sweep_flow
from services.api.service_layer.submission import Period, Refused, check_strategy, data_check
from services.api.service_layer.unit_of_work import UnitOfWork
from services.api.sweep_schemas import SweepSubmit
from shared.contracts import topics
from shared.contracts.models import BacktestConfiguration
from shared.contracts.models.enums import BacktestStatus, SweepChildState, SweepPhase
from shared.contracts.models.objectives import Objective, objective
from shared.contracts.models.walk_forward import Window, windows
from shared.platform.kafka.partitioning import partition_keys
from shared.strategy_types import UnknownStrategyType

MarketReader = Callable[[BacktestConfiguration], Awaitable[prescreen.Market]]


@dataclass(frozen=True)
class SweepLimits:
    max_runs: int  # BTS_SWEEP_MAX_RUNS
    queue_per_partition: int  # BTS_SWEEP_QUEUE_PER_PARTITION


@dataclass(frozen=True)
class SweepQueued:
    id: UUID
    combinations: int
    skipped: int
    total: int
    seed: int | None
    windows: list[dict[str, Any]]


async def _strategy(uow: UnitOfWork, user: UUID, body: SweepSubmit) -> tuple[str, UUID | None, dict[str, Any]]:
    """The strategy type, the stored strategy (if any) and the fixed parameters."""
    if body.strategy_id is None:
        return str(body.strategy_type), None, dict(body.parameters)
    strategy = await check_strategy(uow, user, body.strategy_id)
    return strategy.strategy_type, strategy.id, {**strategy.parameters, **body.parameters}


def _size_problems(body: SweepSubmit, space: Space, max_runs: int, window_count: int) -> list[Problem]:
    """The sweep counted, never expanded: an enormous grid is refused before any of its values is looked at."""
    problems: list[Problem] = []
    size = space.size()
    runs = size * window_count + window_count if body.walk_forward else size
    if runs > max_runs:
        where = "body.samples" if space.random else "body.grid"
        what = (
            f"{size:,} combinations x {window_count} windows + {window_count} = {runs:,} backtests"
            if body.walk_forward
            else f"{runs:,} combinations"
        )
        problems.append(
            Problem(where, f"the sweep expands to {what}; at most {max_runs:,} are allowed (BTS_SWEEP_MAX_RUNS)")
        )
    return problems


def _checks(body: SweepSubmit, strategy_type: str, space: Space, goal: Objective | None) -> list[Problem]:
    problems: list[Problem] = []
    swept = space.swept
    for name in body.heatmap or []:
        if name not in swept:
            problems.append(Problem("body.heatmap", f"{name!r} is not swept; swept: {', '.join(swept)}"))
    if body.heatmap and len(set(body.heatmap)) != 2:
        problems.append(Problem("body.heatmap", "name two different parameters"))
    if body.prescreen is not None:
        if not prescreen.supports(strategy_type):
            problems.append(
                Problem(
                    "body.prescreen",
                    f"no vectorised pre-screen for {strategy_type}; it exists for: "
                    + ", ".join(prescreen.screened_types()),
                )
            )
        if goal is not None and goal.metric not in prescreen.SUPPORTED_OBJECTIVES:
            problems.append(
                Problem(
                    "body.prescreen",
                    f"the pre-screen cannot estimate {goal.metric}; it can: "
                    f"{', '.join(sorted(prescreen.SUPPORTED_OBJECTIVES))}",
                )
            )
        if body.walk_forward is not None:
            problems.append(Problem("body.prescreen", "a pre-screen and a walk-forward cannot be combined"))
        if body.timeframe.value != "BAR_DAILY":
            problems.append(Problem("body.prescreen", "the pre-screen works on daily bars only"))
    return problems


def _children(
    sweep_id: UUID,
    combos: list[dict[str, Any]],
    config: BacktestConfiguration,
    found: list[Window],
    scores: list[float] | None,
    chosen: set[int],
) -> list[ChildRecord]:
    def child(n: int, combination: int, phase: str, window: Window | None, run: bool) -> ChildRecord:
        start = window.in_sample_start if window else config.start_date
        end = window.in_sample_end if window else config.end_date
        score = scores[combination] if scores is not None else None
        return ChildRecord(
            sweep_id=sweep_id,
            n=n,
            backtest_id=uuid.uuid4() if run else None,
            combination=combination,
            phase=phase,
            window_index=window.index if window else None,
            priority=1,
            parameters=combos[combination],
            start_date=start,
            end_date=end,
            state=SweepChildState.QUEUED if run else SweepChildState.SCREENED_OUT,
            kafka_key=None,
            prescreen_score=None if score is None or score != score else score,
            objective_value=None,
            metrics=None,
            trades_count=None,
            error_message=None,
            published_at=None,
            finished_at=None,
        )

    if found:  # window-major: early windows finish first, so their out-of-sample runs start early
        pairs = [(w, i) for w in found for i in range(len(combos))]
        return [child(n, i, SweepPhase.IN_SAMPLE, w, True) for n, (w, i) in enumerate(pairs)]
    order = sorted(range(len(combos)), key=lambda i: (i not in chosen, i))  # the ones to run first
    return [child(n, i, SweepPhase.SWEEP, None, i in chosen) for n, i in enumerate(order)]


def _space_json(space: Space) -> dict[str, Any]:
    document: dict[str, Any] = {"grid": space.grid}
    if space.random:
        document.update(
            ranges={k: {"low": r.low, "high": r.high} for k, r in space.ranges.items()},
            samples=space.samples,
            seed=space.seed,
        )
    return document


def _periods(config: BacktestConfiguration, found: list[Window]) -> list[Period]:
    """The whole run, then each window's in-sample and out-of-sample stretch: each needs its data."""
    return [Period(config.start_date, config.end_date)] + [
        Period(start, end, f"window {w.index} {phase}: ")
        for w in found
        for phase, start, end in (
            ("in sample", w.in_sample_start, w.in_sample_end),
            ("out of sample", w.out_of_sample_start, w.out_of_sample_end),
        )
    ]


async def submit_sweep(
    uow: UnitOfWork,
    user: UUID,
    body: SweepSubmit,
    config: BacktestConfiguration,
    limits: SweepLimits,
    sweep_id: UUID,
    market: MarketReader,
) -> SweepQueued:
    """`config`: the body's configuration (strategy_id: the strategy's, or `sweep_id` for a sweep over a
    type). Refused with every problem found, in the order a caller fixes them: strategy, space and size,
    values, data. `market` reads the closes the pre-screen needs (only called with a pre-screen)."""
    strategy_type, strategy_id, fixed = await _strategy(uow, user, body)
    problems: list[Problem] = []
    try:
        model = parameter_model(strategy_type)
    except UnknownStrategyType as exc:
        raise Refused([Problem("body.strategy_type", str(exc))]) from exc
    seed = body.seed if body.seed is not None else secrets.randbelow(2**32)
    space = Space(
        grid=dict(body.grid),
        ranges={k: Range(v.low, v.high) for k, v in body.ranges.items()},
        samples=body.samples,
        seed=seed if (body.ranges or body.samples) else None,
    )
    fixed = {k: v for k, v in fixed.items() if k not in space.swept}
    try:
        goal: Objective | None = objective(body.objective, body.direction)
    except ValueError as exc:
        goal = None
        problems.append(Problem("body.objective", str(exc)))
    found: list[Window] = []
    if body.walk_forward is not None:
        try:
            found = windows(body.walk_forward, config.start_date, config.end_date)
        except ValueError as exc:
            problems.append(Problem("body.walk_forward", str(exc)))
    problems += _size_problems(body, space, limits.max_runs, max(len(found), 1))
    if problems:
        raise Refused(problems)
    # Checking every value, expanding and pre-screening are CPU work: off the event loop, in a worker thread.
    problems += await asyncio.to_thread(space_problems, model, space, fixed)
    problems += _checks(body, strategy_type, space, goal)
    if problems:
        raise Refused(problems)
    problems += await data_check(uow, config, body.timeframe.value, _periods(config, found))
    if problems or goal is None:
        raise Refused(problems)
    expansion = await asyncio.to_thread(expand, model, space, fixed)
    combos = expansion.combinations
    if not combos:
        raise Refused([Problem("body.grid", f"no valid combination: {expansion.skip_reason}")])
    scores: list[float] | None = None
    chosen = set(range(len(combos)))
    if body.prescreen is not None:
        closes = await market(config)
        scores = await asyncio.to_thread(prescreen.scores, closes, strategy_type, combos, goal)
        chosen = set(prescreen.top_k(scores, goal, body.prescreen.top_k))
    children = await asyncio.to_thread(_children, sweep_id, combos, config, found, scores, chosen)
    queued = sum(1 for c in children if c.state == SweepChildState.QUEUED)
    total = queued + len(found)
    now = datetime.now(UTC)
    walk = (
        None
        if body.walk_forward is None
        else {**body.walk_forward.model_dump(), "windows": [w.as_dict() for w in found]}
    )
    sweep = SweepRecord(
        id=sweep_id,
        user_id=user,
        name=body.name,
        strategy_id=strategy_id,
        strategy_type=strategy_type,
        base_parameters=fixed,
        space=_space_json(space),
        configuration=body.configuration_values(),
        timeframe=body.timeframe.value,
        objective=goal.metric,
        direction=goal.direction,
        heatmap=list(body.heatmap or space.swept[:2]),
        prescreen_top_k=body.prescreen.top_k if body.prescreen else None,
        walk_forward=walk,
        report_top=body.report_top,
        combinations=len(combos),
        skipped=expansion.skipped,
        total=total,
        kafka_keys=partition_keys(sweep_id, topics.PARTITIONS[topics.BACKTEST_REQUESTED]),
        status=BacktestStatus.PENDING,
        error_message=None,
        submitted_at=now,
        started_at=now,
        completed_at=None,
        updated_at=now,
    )
    async with uow:
        await uow.sweeps.add(sweep, children)
        await sweep_flow.start(uow, sweep, queued, limits.queue_per_partition, now)
        await uow.commit()
    return SweepQueued(sweep_id, len(combos), expansion.skipped, total, space.seed, [w.as_dict() for w in found])
