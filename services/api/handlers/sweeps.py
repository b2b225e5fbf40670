"""/sweeps: parameter sweeps and walk-forward runs. Checked up front, fanned out as one backtest.requested
per combination (see services/api/domain/sweep_queue.py for the keys), followed by the read model."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import anyio
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import ValidationError

from services.api import sweep_flow
from services.api.auth import CurrentUser
from services.api.domain import prescreen
from services.api.domain.listing import Filter, prefix_like
from services.api.domain.submission import (
    Problem,
    benchmark_problems,
    data_problems,
    instrument_problems,
    strategy_problems,
)
from services.api.domain.sweep_queue import estimated_completion, partition_keys, progress_pct
from services.api.domain.sweep_space import (
    Range,
    Space,
    expand,
    parameter_model,
    space_problems,
)
from services.api.handlers.deps import Ctx, Db
from services.api.pagination import DEFAULT, IdPrefix, Limit, Offset, Page, Since, Until, day_start
from services.api.problems import FieldError, ProblemError, not_found, unprocessable, validation_problem
from services.api.repository import sweeps as repo
from services.api.repository.strategies import get_strategy
from services.api.repository.sweeps import ChildRecord, SweepRecord
from services.api.sweep_schemas import (
    CurvePoint,
    LeaderboardRow,
    SweepAccepted,
    SweepOut,
    SweepSubmit,
    SweepSummary,
    WalkForwardCurve,
    WalkForwardOut,
    WindowOut,
)
from shared import topics
from shared.db.reads import (
    benchmark_choice,
    count_sessions_with_bars,
    fetch_instruments,
    fetch_snapshots,
    fetch_sweep_reports,
    stream_bars,
)
from shared.db.types import Connection
from shared.models import BacktestConfiguration
from shared.models.objectives import Objective, objective
from shared.models.walk_forward import Window, WindowCurve, efficiency, out_of_sample, stitch, summary, windows
from shared.strategy_types import UnknownStrategyType

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


def _problem(problems: list[Problem]) -> ProblemError:
    return unprocessable([FieldError(field=p.field, message=p.message) for p in problems])


async def _strategy(conn: Connection, user: UUID, body: SweepSubmit) -> tuple[str, UUID | None, dict[str, Any]]:
    """The strategy type, the stored strategy (if any) and the fixed parameters."""
    if body.strategy_id is None:
        return str(body.strategy_type), None, dict(body.parameters)
    strategy = await get_strategy(conn, user, body.strategy_id)
    problems = strategy_problems(strategy, body.strategy_id)
    if problems or strategy is None:
        raise _problem(problems)
    return strategy.strategy_type, strategy.id, {**strategy.parameters, **body.parameters}


async def _data_problems(
    conn: Connection, config: BacktestConfiguration, timeframe: str, periods: list[tuple[str, date, date]]
) -> list[Problem]:
    known = await fetch_instruments(conn, list(config.instrument_ids))
    problems = instrument_problems(config.instrument_ids, set(known))
    for where, start, end in periods:
        lo = datetime.combine(start, datetime.min.time(), UTC)
        hi = datetime.combine(end, datetime.max.time(), UTC)
        sessions = {iid: await count_sessions_with_bars(conn, iid, timeframe, lo, hi) for iid in known}
        for p in data_problems(config.instrument_ids, sessions, timeframe):
            problems.append(
                Problem(p.field if not where else "body.walk_forward", f"{where}{p.message}" if where else p.message)
            )
        problems += benchmark_problems(await benchmark_choice(conn, config.benchmark_symbol, start, end), where)
    return problems


async def _market(conn: Connection, config: BacktestConfiguration) -> prescreen.Market:
    """Daily closes of the sweep's instruments (read-only, like GET /market-data) and its trading costs."""
    lo = datetime.combine(config.start_date, datetime.min.time(), UTC)
    hi = datetime.combine(config.end_date, datetime.max.time(), UTC)
    closes: dict[str, dict[Any, float]] = {}
    async with conn.transaction():
        for iid in config.instrument_ids:
            closes[iid] = {}
            async for batch in stream_bars(conn, iid, "BAR_DAILY", lo, hi):
                closes[iid].update({r["timestamp"].date(): float(r["close"]) for r in batch})
    frame = await asyncio.to_thread(_frame, closes)
    instruments = await fetch_instruments(conn, list(config.instrument_ids))
    model = config.commission_model
    per_share = float(model.per_share or 0) if model.type.value == "PER_SHARE" else 0.0
    fraction = float(model.percent or 0) / 100 if model.type.value == "PERCENT" else 0.0
    weight = min(float(config.position_size_pct), 10.0) / 100
    if model.type.value == "FIXED":  # a fixed fee per order, as a fraction of a typical position
        fraction = float(model.per_order or 0) / (float(config.initial_capital) * weight)
    cost = {iid: float(instruments[iid].tick_size) * model.slippage_ticks + per_share for iid in instruments}
    return prescreen.Market(closes=frame, weight=weight, cost_per_price=cost, cost_fraction=fraction)


def _frame(closes: dict[str, dict[Any, float]]) -> pd.DataFrame:
    return pd.DataFrame(closes).sort_index()


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
            state="QUEUED" if run else "SCREENED_OUT",
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
        return [child(n, i, "IN_SAMPLE", w, True) for n, (w, i) in enumerate(pairs)]
    order = sorted(range(len(combos)), key=lambda i: (i not in chosen, i))  # the ones to run first
    return [child(n, i, "SWEEP", None, i in chosen) for n, i in enumerate(order)]


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=SweepAccepted)
async def submit(body: SweepSubmit, user: CurrentUser, conn: Db, ctx: Ctx) -> SweepAccepted:
    """Check everything up front (422 naming each problem), expand the parameter space, and queue one backtest
    per combination (walk-forward: per combination and in-sample window, then one per out-of-sample window)."""
    sweep_id = uuid.uuid4()
    try:
        config = BacktestConfiguration(strategy_id=body.strategy_id or sweep_id, **body.configuration_values())
    except ValidationError as exc:
        raise validation_problem(exc) from exc
    strategy_type, strategy_id, fixed = await _strategy(conn, user, body)
    problems: list[Problem] = []
    try:
        model = parameter_model(strategy_type)
    except UnknownStrategyType as exc:
        raise _problem([Problem("body.strategy_type", str(exc))]) from exc
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
    problems += _size_problems(body, space, ctx.settings.sweep_max_runs, max(len(found), 1))
    if problems:
        raise _problem(problems)
    # Checking every value, expanding and pre-screening are CPU work: off the event loop, in a worker thread.
    problems += await asyncio.to_thread(space_problems, model, space, fixed)
    problems += _checks(body, strategy_type, space, goal)
    if problems:
        raise _problem(problems)
    periods = [("", config.start_date, config.end_date)] + [
        (f"window {w.index} {phase}: ", s, e)
        for w in found
        for phase, s, e in (
            ("in sample", w.in_sample_start, w.in_sample_end),
            ("out of sample", w.out_of_sample_start, w.out_of_sample_end),
        )
    ]
    problems += await _data_problems(conn, config, body.timeframe.value, periods)
    if problems:
        raise _problem(problems)
    assert goal is not None
    expansion = await asyncio.to_thread(expand, model, space, fixed)
    combos = expansion.combinations
    if not combos:
        raise _problem([Problem("body.grid", f"no valid combination: {expansion.skip_reason}")])
    scores: list[float] | None = None
    chosen = set(range(len(combos)))
    if body.prescreen is not None:
        market = await _market(conn, config)
        scores = await asyncio.to_thread(prescreen.scores, market, strategy_type, combos, goal)
        chosen = set(prescreen.top_k(scores, goal, body.prescreen.top_k))
    children = await asyncio.to_thread(_children, sweep_id, combos, config, found, scores, chosen)
    queued = sum(1 for c in children if c.state == "QUEUED")
    total = queued + len(found)
    now = datetime.now(UTC)
    swept = space.swept
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
        heatmap=list(body.heatmap or swept[:2]),
        prescreen_top_k=body.prescreen.top_k if body.prescreen else None,
        walk_forward=walk,
        report_top=body.report_top,
        combinations=len(combos),
        skipped=expansion.skipped,
        total=total,
        kafka_keys=partition_keys(sweep_id, topics.PARTITIONS[topics.BACKTEST_REQUESTED]),
        status="PENDING",
        error_message=None,
        submitted_at=now,
        started_at=now,
        completed_at=None,
        updated_at=now,
    )
    async with conn.transaction():
        await repo.insert_sweep(conn, sweep)
        await repo.insert_children(conn, children)
        await sweep_flow.start(conn, sweep, queued, ctx.settings.sweep_queue_per_partition, now)
    return SweepAccepted(
        id=sweep_id,
        combinations=len(combos),
        skipped=expansion.skipped,
        total=total,
        seed=space.seed,
        windows=[w.as_dict() for w in found],
    )


def _space_json(space: Space) -> dict[str, Any]:
    document: dict[str, Any] = {"grid": space.grid}
    if space.random:
        document.update(
            ranges={k: {"low": r.low, "high": r.high} for k, r in space.ranges.items()},
            samples=space.samples,
            seed=space.seed,
        )
    return document


async def owned(sweep_id: UUID, user: CurrentUser, conn: Db) -> SweepRecord:
    sweep = await repo.sweep_of(conn, user, sweep_id)
    if sweep is None:
        raise not_found("sweep", sweep_id)
    return sweep


Owned = Annotated[SweepRecord, Depends(owned)]


def _summary(sweep: SweepRecord, counts: dict[str, int]) -> dict[str, Any]:
    done = counts.get("COMPLETED", 0) + counts.get("FAILED", 0)
    return {
        "id": sweep.id,
        "name": sweep.name,
        "status": sweep.status,
        "strategy_id": sweep.strategy_id,
        "strategy_type": sweep.strategy_type,
        "objective": sweep.objective,
        "direction": sweep.direction,
        "total": sweep.total,
        "done": done,
        "failed": counts.get("FAILED", 0),
        "progress_pct": progress_pct(done, sweep.total),
        "submitted_at": sweep.submitted_at,
        "completed_at": sweep.completed_at,
    }


@router.get("", response_model=Page[SweepSummary])
async def list_sweeps(
    user: CurrentUser,
    conn: Db,
    status: Annotated[Literal["PENDING", "RUNNING", "COMPLETED", "FAILED"] | None, Query()] = None,
    strategy_id: Annotated[UUID | None, Query()] = None,
    since: Since = None,
    until: Until = None,
    id_prefix: IdPrefix = None,
    limit: Limit = DEFAULT,
    offset: Offset = 0,
) -> Page[SweepSummary]:
    """Your sweeps, newest first, with their progress, one page at a time."""
    filters = [
        Filter("status = ?", status),
        Filter("strategy_id = ?", strategy_id),
        Filter("submitted_at >= ?", day_start(since)),
        Filter("submitted_at < ?", day_start(until, 1)),
        Filter("id::text LIKE ?", prefix_like(id_prefix)),
    ]
    sweeps, total = await repo.list_sweeps(conn, user, filters, limit, offset)
    counts = await repo.state_counts(conn, [s.id for s in sweeps])
    items = [SweepSummary.model_validate(_summary(s, counts[s.id])) for s in sweeps]
    return Page(items=items, total=total, limit=limit, offset=offset)


def _row(rank: int, child: ChildRecord) -> LeaderboardRow:
    return LeaderboardRow(
        rank=rank,
        backtest_id=child.backtest_id,
        parameters=child.parameters,
        phase=child.phase,
        window_index=child.window_index,
        status=child.state,
        objective=child.objective_value,
        prescreen_score=child.prescreen_score,
        trades_count=child.trades_count,
        error_message=child.error_message,
        **sweep_flow.leaderboard_metrics(child.metrics),
    )


async def _windows(conn: Connection, sweep: SweepRecord) -> list[WindowOut]:
    spec = sweep.walk_forward or {}
    counts = await repo.window_counts(conn, sweep.id)
    oos = {c.window_index: c for c in await repo.out_of_sample(conn, sweep.id)}
    found = []
    for window in spec.get("windows", []):
        index = int(window["index"])
        best = await repo.ranked(conn, sweep.id, sweep.direction, 1, ("IN_SAMPLE",), index, completed_only=True)
        out = oos.get(index)
        done, total = counts.get(index, (0, 0))
        outcome = (
            out_of_sample(
                sweep.objective,
                out.state,
                out.objective_value,
                sweep_flow.leaderboard_metrics(out.metrics)["total_return"],
                out.error_message,
            )
            if out
            else None
        )
        in_sample = best[0].objective_value if best else None
        found.append(
            WindowOut(
                **window,
                in_sample_done=done,
                in_sample_total=total,
                best_parameters=best[0].parameters if best else None,
                in_sample_objective=in_sample,
                in_sample_backtest_id=best[0].backtest_id if best else None,
                out_of_sample_backtest_id=out.backtest_id if out else None,
                out_of_sample_status=("FLAT" if outcome and outcome.flat else out.state) if out else None,
                out_of_sample_objective=outcome.objective if outcome else None,
                out_of_sample_return=outcome.total_return if outcome else None,
                efficiency=efficiency([(in_sample, outcome.objective if outcome else None)]),
                error_message=out.error_message if out else None,
            )
        )
    return found


async def _stitched(conn: Connection, sweep: SweepRecord) -> tuple[list[CurvePoint], dict[str, float | None]]:
    capital = float(sweep.configuration.get("initial_capital", 100_000))
    curves = []
    for child in await repo.out_of_sample(conn, sweep.id):
        ran = child.state == "COMPLETED" and child.backtest_id is not None
        rows = await fetch_snapshots(conn, child.backtest_id, "DAILY") if ran and child.backtest_id else []
        curves.append(
            WindowCurve(
                index=child.window_index or 0,
                dates=[r["timestamp"].date() for r in rows] or None,
                values=[float(r["total_value"]) for r in rows] or None,
                start=child.start_date,  # a window without a run (no signal) is flat over its weekdays
                end=child.end_date,
            )
        )
    return await asyncio.to_thread(_stitched_curve, curves, capital)


def _stitched_curve(curves: list[WindowCurve], capital: float) -> tuple[list[CurvePoint], dict[str, float | None]]:
    curve = stitch(curves, capital)
    points = [CurvePoint(date=d.date(), value=round(float(v), 2)) for d, v in curve.items()]
    return points, summary(curve, capital)


@router.get("/{sweep_id}", response_model=SweepOut)
async def get_sweep(
    sweep: Owned,
    conn: Db,
    request: Request,
    limit: Annotated[int, Query(ge=0, le=1000, description="leaderboard rows")] = 20,
) -> SweepOut:
    """Progress (done/failed/total, ETA), the leaderboard sorted by the objective, and for a walk-forward its
    windows and the stitched out-of-sample result."""
    counts = (await repo.state_counts(conn, [sweep.id]))[sweep.id]
    values = _summary(sweep, counts)
    now = datetime.now(UTC)
    remaining = sweep.total - values["done"]
    finished = sweep.status in ("COMPLETED", "FAILED")
    board = await repo.ranked(conn, sweep.id, sweep.direction, limit)
    walk = None
    if sweep.walk_forward is not None:
        windows_out = await _windows(conn, sweep)
        stitched = (await _stitched(conn, sweep))[1] if finished else None
        walk = WalkForwardOut(
            mode=sweep.walk_forward["mode"],
            in_sample_months=sweep.walk_forward["in_sample_months"],
            out_of_sample_months=sweep.walk_forward["out_of_sample_months"],
            windows=windows_out,
            stitched=stitched,
            efficiency=efficiency([(w.in_sample_objective, w.out_of_sample_objective) for w in windows_out]),
        )
    reports = await fetch_sweep_reports(conn, sweep.id)
    report_url = str(request.url_for("sweep_report", sweep_id=sweep.id)) if reports else None
    shown = "RUNNING" if sweep.status == "PENDING" and (values["done"] or counts.get("RUNNING")) else sweep.status
    return SweepOut(
        **{**values, "status": shown},
        combinations=sweep.combinations,
        skipped=sweep.skipped,
        completed=counts.get("COMPLETED", 0),
        running=counts.get("RUNNING", 0),
        queued=counts.get("QUEUED", 0) + counts.get("PUBLISHED", 0) - counts.get("RUNNING", 0),
        screened_out=counts.get("SCREENED_OUT", 0),
        started_at=sweep.started_at,
        estimated_completion=None
        if finished
        else estimated_completion(sweep.started_at, now, values["done"], remaining),
        error_message=sweep.error_message,
        space=sweep.space,
        parameters=sweep.base_parameters,
        configuration=sweep.configuration,
        timeframe=sweep.timeframe,
        heatmap=sweep.heatmap,
        prescreen_top_k=sweep.prescreen_top_k,
        report_top=sweep.report_top,
        leaderboard=[_row(i + 1, c) for i, c in enumerate(board)],
        walk_forward=walk,
        report_url=report_url,
    )


@router.get(
    "/{sweep_id}/walk-forward",
    response_model=WalkForwardCurve,
    responses={409: {"description": "not a walk-forward sweep"}},
)
async def walk_forward_curve(sweep: Owned, conn: Db) -> WalkForwardCurve:
    """The stitched out-of-sample equity curve (windows run so far, chained), its metrics and the windows."""
    if sweep.walk_forward is None:
        raise ProblemError(409, "Conflict", f"sweep {sweep.id} has no walk-forward")
    points, stitched = await _stitched(conn, sweep)
    return WalkForwardCurve(
        sweep_id=sweep.id,
        initial_capital=float(sweep.configuration.get("initial_capital", 0)),
        points=points,
        stitched=stitched,
        windows=await _windows(conn, sweep),
    )


@router.get(
    "/{sweep_id}/report",
    name="sweep_report",
    response_class=FileResponse,
    responses={
        200: {"content": {"text/html": {}}},
        409: {"description": "not written yet"},
        410: {"description": "the file is gone (retention)"},
    },
)
async def report(sweep: Owned, conn: Db) -> FileResponse:
    """The sweep's self-contained HTML report: leaderboard, heatmap, walk-forward, links to child reports."""
    reports = [r for r in await fetch_sweep_reports(conn, sweep.id) if r["report_type"] == "HTML"]
    if not reports:
        raise ProblemError(409, "Conflict", f"sweep {sweep.id} is {sweep.status}: its report is not written yet")
    path = Path(reports[0]["file_path"])
    if not await anyio.Path(path).is_file():
        raise ProblemError(410, "Gone", f"the report of sweep {sweep.id} no longer exists")
    return FileResponse(path, media_type="text/html", filename=path.name)
