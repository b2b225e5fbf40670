"""/sweeps: parameter sweeps and walk-forward runs. Checked up front, fanned out as one backtest.requested
per combination (see services/api/domain/sweep_queue.py for the keys), followed by the read model."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import ValidationError

from services.api.auth import CurrentUser
from services.api.domain import prescreen
from services.api.domain.listing import Filter, prefix_like
from services.api.domain.sweep_queue import estimated_completion, progress_pct
from services.api.handlers.deps import Ctx, Db
from services.api.pagination import DEFAULT, IdPrefix, Limit, Offset, Page, Since, Until, day_start
from services.api.problems import ProblemError, not_found, refused_problem, validation_problem
from services.api.repository import sweeps as repo
from services.api.repository.sweeps import ChildRecord, SweepRecord
from services.api.service_layer import sweep_flow
from services.api.service_layer.submission import Refused
from services.api.service_layer.sweeps import SweepLimits, submit_sweep
from services.api.service_layer.unit_of_work import PostgresUnitOfWork
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
from shared.contracts.models import BacktestConfiguration
from shared.contracts.models.enums import TERMINAL_STATUSES, BacktestStatus, SweepChildState, SweepPhase
from shared.contracts.models.walk_forward import WindowCurve, efficiency, out_of_sample, stitch, summary
from shared.platform.db.reads import fetch_instruments, fetch_snapshots, fetch_sweep_reports, stream_bars
from shared.platform.db.types import Connection

if TYPE_CHECKING:
    import pandas as pd

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


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
    import pandas as pd  # here (a worker thread runs it): not on the gateway's way to ready

    return pd.DataFrame(closes).sort_index()


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=SweepAccepted)
async def submit(body: SweepSubmit, user: CurrentUser, conn: Db, ctx: Ctx) -> SweepAccepted:
    """Check everything up front (422 naming each problem), expand the parameter space, and queue one backtest
    per combination (walk-forward: per combination and in-sample window, then one per out-of-sample window)."""
    sweep_id = uuid.uuid4()
    try:  # a sweep over a type: the sweep stands for the strategy
        config = BacktestConfiguration(strategy_id=body.strategy_id or sweep_id, **body.configuration_values())
    except ValidationError as exc:
        raise validation_problem(exc) from exc
    limits = SweepLimits(ctx.settings.sweep_max_runs, ctx.settings.sweep_queue_per_partition)
    try:
        queued = await submit_sweep(
            PostgresUnitOfWork(conn), user, body, config, limits, sweep_id, lambda c: _market(conn, c)
        )
    except Refused as refused:
        raise refused_problem(refused) from refused
    return SweepAccepted(**asdict(queued))


async def owned(sweep_id: UUID, user: CurrentUser, conn: Db) -> SweepRecord:
    sweep = await repo.sweep_of(conn, user, sweep_id)
    if sweep is None:
        raise not_found("sweep", sweep_id)
    return sweep


Owned = Annotated[SweepRecord, Depends(owned)]


def _summary(sweep: SweepRecord, counts: dict[str, int]) -> dict[str, Any]:
    done = counts.get(SweepChildState.COMPLETED, 0) + counts.get(SweepChildState.FAILED, 0)
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
        "failed": counts.get(SweepChildState.FAILED, 0),
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
        best = await repo.ranked(
            conn, sweep.id, sweep.direction, 1, (SweepPhase.IN_SAMPLE,), index, completed_only=True
        )
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
        ran = child.state == SweepChildState.COMPLETED and child.backtest_id is not None
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
    finished = sweep.status in TERMINAL_STATUSES
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
    shown = (
        BacktestStatus.RUNNING
        if sweep.status == BacktestStatus.PENDING and (values["done"] or counts.get(BacktestStatus.RUNNING))
        else sweep.status
    )
    return SweepOut(
        **{**values, "status": shown},
        combinations=sweep.combinations,
        skipped=sweep.skipped,
        completed=counts.get(SweepChildState.COMPLETED, 0),
        running=counts.get(BacktestStatus.RUNNING, 0),
        queued=counts.get(SweepChildState.QUEUED, 0)
        + counts.get(SweepChildState.PUBLISHED, 0)
        - counts.get(BacktestStatus.RUNNING, 0),
        screened_out=counts.get(SweepChildState.SCREENED_OUT, 0),
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
