"""Research pages: backtests, one backtest, submitting, strategies, sweeps, comparisons and market data.

Each route parses the form, calls the gateway's own handler functions (the same checks, ownership rules and
outbox writes as REST) and renders the outcome; a problem they raise becomes an error page or, on a form, the
errors next to its fields."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import ValidationError

from services.api.domain.listing import MAX_LIMIT
from services.api.domain.read_models import TERMINAL
from services.api.handlers import (
    backtests,
    comparisons,
    market_data,
    market_data_versions,
    reports,
    reproducibility,
    strategies,
    sweeps,
)
from services.api.handlers.deps import Ctx, Db
from services.api.problems import FieldError, ProblemError
from services.api.schemas import BacktestSubmit, StrategyCreate
from services.api.sweep_schemas import SweepSubmit
from services.api.ui import charts, queries
from services.api.ui.forms import parameter_fields, parameter_values, place_errors, split_list
from services.api.ui.web import ConsoleRoute, FormText, Session, Writer, render
from shared.contracts.models import BacktestStatus, StrategyStatus, Timeframe
from shared.contracts.models.enums import BarAdjustment
from shared.strategy_types import registry

router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)
PAGE_SIZES = (25, 50, 100)
TRADES_PER_PAGE = 50
BACKTEST_FIELDS = ("strategy_id", "instrument_ids", "start_date", "end_date", "initial_capital", "position_size_pct")


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- backtests -------------------------------------------------------------------------------------------------


@router.get("/backtests")
async def backtest_list(
    request: Request,
    session: Session,
    conn: Db,
    status: Annotated[BacktestStatus | None, Query()] = None,
    sort: Annotated[str, Query(pattern="^(" + "|".join(queries.SORTS) + ")$")] = "submitted",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Your backtests: filter by status, sort by a column, page through; running ones follow their event stream."""
    page = await queries.backtest_page(
        conn, session.user_id, status.value if status else None, sort, order == "desc", limit, offset
    )
    return render(
        request,
        "backtests.html.j2",
        page=page,
        status=status.value if status else "",
        statuses=[s.value for s in BacktestStatus],
        sort=sort,
        sorts=list(queries.SORTS),
        order=order,
        limit=limit,
        offset=offset,
        sizes=PAGE_SIZES,
        terminal=TERMINAL,
    )


async def _submit_form(request: Request, session: Session, conn: Db, values: dict[str, str], errors: Any) -> Response:
    active = (await strategies.get_strategies(session.user_id, conn, StrategyStatus.ACTIVE, limit=MAX_LIMIT)).items
    return render(
        request,
        "backtest_new.html.j2",
        status_code=422 if errors else 200,
        strategies=[s for s in active if s.status.value == "ACTIVE"],
        values=values,
        errors=errors,
        timeframes=[t.value for t in Timeframe],
    )


@router.get("/backtests/new")
async def backtest_new(
    request: Request, session: Session, conn: Db, strategy_id: Annotated[str, Query(max_length=40)] = ""
) -> Response:
    values = {"strategy_id": strategy_id, "start_date": "2019-01-02", "end_date": "2024-12-31"}
    return await _submit_form(request, session, conn, values, None)


@router.post("/backtests")
async def backtest_submit(request: Request, session: Writer, conn: Db, form: FormText) -> Response:
    """Submit through the gateway's own `POST /backtests` handler; its 422 reasons land next to the fields."""
    values = dict(form)
    body: dict[str, Any] = {
        "strategy_id": values.get("strategy_id", ""),
        "instrument_ids": split_list(values.get("instrument_ids", "")),
        "start_date": values.get("start_date", ""),
        "end_date": values.get("end_date", ""),
    }
    for name in ("initial_capital", "position_size_pct", "benchmark_symbol"):
        if values.get(name, "").strip():
            body[name] = values[name].strip()
    try:
        submitted = BacktestSubmit.model_validate(body)
        timeframe = Timeframe(values.get("timeframe") or Timeframe.BAR_DAILY.value)
        accepted = await backtests.submit(submitted, session.user_id, conn, timeframe)
    except ValidationError as exc:
        errors = [FieldError(field=".".join(map(str, e["loc"])), message=e["msg"]) for e in exc.errors()]
        placed = place_errors(errors, BACKTEST_FIELDS)
        return await _submit_form(request, session, conn, values, placed)
    except ValueError:
        placed = place_errors([FieldError(field="timeframe", message="not a timeframe")], ("timeframe",))
        return await _submit_form(request, session, conn, values, placed)
    except ProblemError as exc:
        placed = place_errors(exc.problem.errors, BACKTEST_FIELDS, exc.problem.detail)
        return await _submit_form(request, session, conn, values, placed)
    return _see(f"/ui/backtests/{accepted.id}")


async def _detail(request: Request, session: Session, conn: Db, ctx: Ctx, backtest_id: UUID, page: int) -> Any:
    """Everything the detail page shows; raises the REST API's 404 for another user's id."""
    backtest = await backtests.owned(backtest_id, session.user_id, ctx)
    values: dict[str, Any] = {"backtest": backtest, "result": None, "trades": [], "report": None, "manifest": None}
    if backtest["status"] in TERMINAL:
        try:
            values["result"] = json.loads(bytes((await backtests.get_result(backtest, ctx)).body))
            trades = await backtests.get_trades(backtest, conn, ctx, "json")
            values["manifest"] = await reproducibility.get_manifest(backtest, conn)
        except ProblemError as exc:
            values["missing"] = exc.problem.detail
            trades = []
        values["trades_total"] = len(trades)
        values["trades"] = trades[page * TRADES_PER_PAGE : (page + 1) * TRADES_PER_PAGE]
        found = await backtests.get_reports(backtest, conn, request)
        html = [r for r in found if r.report_type == "HTML"]
        values["report"] = html[0] if html else None
        values["downloads"] = found
        values["others"] = [
            b for b in await queries.completed_backtests(conn, session.user_id) if b["id"] != backtest["id"]
        ]
    values.update(trades_page=page, per_page=TRADES_PER_PAGE, terminal=TERMINAL)
    return values


@router.get("/backtests/{backtest_id}")
async def backtest_page(
    request: Request,
    session: Session,
    conn: Db,
    ctx: Ctx,
    backtest_id: UUID,
    trades_page: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    values = await _detail(request, session, conn, ctx, backtest_id, trades_page)
    return render(request, "backtest.html.j2", **values)


@router.get("/backtests/{backtest_id}/panel")
async def backtest_panel(
    request: Request,
    session: Session,
    conn: Db,
    ctx: Ctx,
    backtest_id: UUID,
    trades_page: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    """The detail page's body alone: swapped in by the page's script when the run ends (no reload)."""
    values = await _detail(request, session, conn, ctx, backtest_id, trades_page)
    return render(request, "_backtest_panel.html.j2", **values)


async def owned_backtest(backtest_id: UUID, session: Session, ctx: Ctx) -> dict[str, Any]:
    """The backtest's status row if it is the signed-in user's; the REST API's 404 otherwise."""
    return await backtests.owned(backtest_id, session.user_id, ctx)


OwnedBacktest = Annotated[dict[str, Any], Depends(owned_backtest)]


@router.get("/backtests/{backtest_id}/events", response_class=EventSourceResponse)
async def backtest_events(backtest: OwnedBacktest, ctx: Ctx, request: Request) -> AsyncIterator[ServerSentEvent]:
    """The REST event stream (`status` events, then `end`), authenticated by the console's session."""
    async for event in backtests.events(backtest, ctx, request):
        yield event


@router.post("/backtests/{backtest_id}/reproduce")
async def backtest_reproduce(session: Writer, conn: Db, ctx: Ctx, backtest_id: UUID) -> Response:
    backtest = await backtests.owned(backtest_id, session.user_id, ctx)
    accepted = await reproducibility.reproduce(backtest, session.user_id, conn, None)
    return _see(f"/ui/backtests/{accepted.id}")


@router.get("/reports/{report_id}")
async def report_file(session: Session, conn: Db, report_id: UUID) -> FileResponse:
    """A report file for the signed-in user (the HTML report is embedded in the detail page)."""
    response = await reports.download(report_id, session.user_id, conn)
    if response.media_type and response.media_type.startswith("text/html"):
        response.headers["Content-Disposition"] = "inline"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


# --- compare ---------------------------------------------------------------------------------------------------


@router.get("/compare")
async def compare(
    request: Request, session: Session, conn: Db, ids: Annotated[list[str] | None, Query(max_length=10)] = None
) -> Response:
    """2 to 10 completed backtests side by side: the REST comparison, equity curves overlaid."""
    chosen = [i for part in ids or [] for i in part.split(",") if i.strip()]
    comparison, lines = None, []
    if len(chosen) >= 2:
        comparison = await comparisons.compare(session.user_id, conn, ",".join(chosen), True)
        lines = charts.polylines([(b.label, b.equity.values if b.equity else []) for b in comparison.backtests])
    choices = await queries.completed_backtests(conn, session.user_id)
    return render(request, "compare.html.j2", comparison=comparison, lines=lines, choices=choices, chosen=chosen)


# --- strategies ------------------------------------------------------------------------------------------------


def _clone_available(request: Request) -> bool:
    """The clone button shows only where the gateway has `POST /strategies/{id}/clone` (added in parallel)."""
    return any(getattr(r, "path", "") == "/api/v1/strategies/{strategy_id}/clone" for r in request.app.routes)


async def _strategies_page(
    request: Request, session: Session, conn: Db, chosen: str, values: dict[str, str], errors: Any
) -> Response:
    types = registry()
    spec = types.get(chosen) or next(iter(types.values()))
    return render(
        request,
        "strategies.html.j2",
        status_code=422 if errors else 200,
        strategies=(await strategies.get_strategies(session.user_id, conn, limit=MAX_LIMIT)).items,
        types=sorted(types),
        chosen=spec.name,
        description=spec.description,
        fields=parameter_fields(spec.json_schema()),
        values=values,
        errors=errors,
        clone=_clone_available(request),
    )


@router.get("/strategies")
async def strategy_list(
    request: Request, session: Session, conn: Db, type: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    return await _strategies_page(request, session, conn, type, {}, None)


@router.post("/strategies")
async def strategy_create(request: Request, session: Writer, conn: Db, form: FormText) -> Response:
    """A new DRAFT strategy through the REST handler; parameters typed from the type's schema."""
    chosen = form.get("strategy_type", "")
    spec = registry().get(chosen)
    fields = parameter_fields(spec.json_schema()) if spec else []
    names = ["name", "strategy_type", *(f.input_name for f in fields)]
    try:
        body = StrategyCreate.model_validate(
            {"name": form.get("name", ""), "strategy_type": chosen, "parameters": parameter_values(fields, form)}
        )
        created = await strategies.create_strategy(body, session.user_id, conn)
    except ValidationError as exc:
        errors = [FieldError(field="body." + ".".join(map(str, e["loc"])), message=e["msg"]) for e in exc.errors()]
        return await _strategies_page(request, session, conn, chosen, dict(form), place_errors(errors, names))
    except ProblemError as exc:
        placed = place_errors(exc.problem.errors, names, exc.problem.detail)
        return await _strategies_page(request, session, conn, chosen, dict(form), placed)
    return _see(f"/ui/strategies/{created.id}")


@router.get("/strategies/{strategy_id}")
async def strategy_page(request: Request, session: Session, conn: Db, strategy_id: UUID) -> Response:
    strategy = await strategies.get_one(strategy_id, session.user_id, conn)
    return render(request, "strategy.html.j2", strategy=strategy, clone=_clone_available(request))


@router.post("/strategies/{strategy_id}/activate")
async def strategy_activate(session: Writer, conn: Db, strategy_id: UUID) -> Response:
    await strategies.activate(strategy_id, session.user_id, conn)
    return _see(f"/ui/strategies/{strategy_id}")


@router.post("/strategies/{strategy_id}/archive")
async def strategy_archive(session: Writer, conn: Db, strategy_id: UUID) -> Response:
    await strategies.archive(strategy_id, session.user_id, conn)
    return _see(f"/ui/strategies/{strategy_id}")


@router.post("/strategies/{strategy_id}/clone")
async def strategy_clone(session: Writer, conn: Db, strategy_id: UUID) -> Response:
    """A DRAFT copy (same type and parameters, name "<name> (copy N)") through the REST create handler. The
    button shows only once the gateway has its own clone route; see docs/console.md."""
    original = await strategies.get_one(strategy_id, session.user_id, conn)
    for n in range(1, 100):
        name = f"{original.name[:88]} (copy {n})"
        body = StrategyCreate(name=name, strategy_type=original.strategy_type, parameters=original.parameters)
        try:
            created = await strategies.create_strategy(body, session.user_id, conn)
        except ProblemError as exc:
            if exc.problem.status == 409:
                continue  # that copy's name is taken: the next number
            raise
        return _see(f"/ui/strategies/{created.id}")
    raise ProblemError(409, "Conflict", f"strategy {strategy_id} has 99 copies already")


# --- sweeps ----------------------------------------------------------------------------------------------------


@router.get("/sweeps")
async def sweep_list(request: Request, session: Session, conn: Db) -> Response:
    found = (await sweeps.list_sweeps(session.user_id, conn, limit=50, offset=0)).items
    return render(
        request, "sweeps.html.j2", sweeps=found, types=sorted(registry()), values={"objective": "sharpe_ratio"}
    )


SWEEP_FIELDS = (
    "name",
    "strategy_type",
    "grid",
    "instrument_ids",
    "start_date",
    "end_date",
    "objective",
    "walk_forward.in_sample_months",
    "walk_forward.out_of_sample_months",
    "walk_forward.mode",
    "walk_forward",
)


def _grid(text: str) -> dict[str, list[Any]]:
    """`fast_period = 5, 10, 20` one per line -> {"fast_period": [5, 10, 20]} (numbers as numbers)."""
    grid: dict[str, list[Any]] = {}
    for line in text.splitlines():
        name, _, values = line.partition("=")
        if name.strip():
            grid[name.strip()] = [_scalar(v) for v in values.split(",") if v.strip()]
    return grid


def _scalar(text: str) -> Any:
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


@router.post("/sweeps")
async def sweep_submit(request: Request, session: Writer, conn: Db, ctx: Ctx, form: FormText) -> Response:
    values = dict(form)
    body: dict[str, Any] = {
        "name": values.get("name") or None,
        "strategy_type": values.get("strategy_type", ""),
        "grid": _grid(values.get("grid", "")),
        "objective": values.get("objective") or "sharpe_ratio",
        "instrument_ids": split_list(values.get("instrument_ids", "")),
        "start_date": values.get("start_date", ""),
        "end_date": values.get("end_date", ""),
    }
    if values.get("in_sample_months", "").strip():  # a walk-forward: optimise in sample, test out of sample
        body["walk_forward"] = {
            "in_sample_months": _scalar(values["in_sample_months"]),
            "out_of_sample_months": _scalar(values.get("out_of_sample_months", "")),
            "mode": values.get("mode") or "rolling",
        }
    try:
        accepted = await sweeps.submit(SweepSubmit.model_validate(body), session.user_id, conn, ctx)
    except (ValidationError, ProblemError) as exc:
        if isinstance(exc, ValidationError):
            errors = [FieldError(field=".".join(map(str, e["loc"])), message=e["msg"]) for e in exc.errors()]
            placed = place_errors(errors, SWEEP_FIELDS)
        else:
            placed = place_errors(exc.problem.errors, SWEEP_FIELDS, exc.problem.detail)
        found = (await sweeps.list_sweeps(session.user_id, conn, limit=50, offset=0)).items
        return render(
            request,
            "sweeps.html.j2",
            status_code=422,
            sweeps=found,
            types=sorted(registry()),
            values=values,
            errors=placed,
        )
    return _see(f"/ui/sweeps/{accepted.id}")


async def _sweep_values(request: Request, session: Session, conn: Db, sweep_id: UUID) -> dict[str, Any]:
    sweep = await sweeps.owned(sweep_id, session.user_id, conn)
    shown = await sweeps.get_sweep(sweep, conn, request, 1000)
    board = [row.model_dump(mode="json") for row in shown.leaderboard]
    finished = shown.status in TERMINAL
    return {
        "sweep": shown,
        "leaderboard": board[:50],
        "heatmap": charts.heatmap(board, shown.heatmap or list(shown.space)),
        "finished": finished,
        # the page stops refreshing once its report is there (or is not coming: a minute after the end)
        "settled": finished and (shown.report_url is not None or _ended_before(shown.completed_at, REPORT_WAIT)),
    }


REPORT_WAIT = timedelta(minutes=1)


def _ended_before(ended: datetime | None, wait: timedelta) -> bool:
    return ended is None or datetime.now(UTC) - ended > wait


@router.get("/sweeps/{sweep_id}")
async def sweep_page(request: Request, session: Session, conn: Db, sweep_id: UUID) -> Response:
    return render(request, "sweep.html.j2", **await _sweep_values(request, session, conn, sweep_id))


@router.get("/sweeps/{sweep_id}/panel")
async def sweep_panel(request: Request, session: Session, conn: Db, sweep_id: UUID) -> Response:
    """The live part of the sweep page (progress, leaderboard, heatmap, walk-forward), polled while it runs."""
    return render(request, "_sweep_panel.html.j2", **await _sweep_values(request, session, conn, sweep_id))


@router.get("/sweeps/{sweep_id}/report")
async def sweep_report(session: Session, conn: Db, sweep_id: UUID) -> FileResponse:
    sweep = await sweeps.owned(sweep_id, session.user_id, conn)
    response = await sweeps.report(sweep, conn)
    response.headers["Content-Disposition"] = "inline"
    return response


# --- market data -----------------------------------------------------------------------------------------------


@router.get("/data")
async def data_page(request: Request, session: Session, conn: Db) -> Response:
    """Coverage per instrument and timeframe, recent imports with their errors and warnings, and an upload."""
    coverage = await market_data_versions.coverage(session.user_id, conn, None, None)
    imports = await queries.recent_imports(conn, session.user_id)
    return render(
        request,
        "data.html.j2",
        coverage=coverage,
        imports=imports,
        timeframes=[t.value for t in Timeframe],
        adjustments=[a.value for a in BarAdjustment],
    )


@router.post("/data/upload")
async def data_upload(
    session: Writer,
    conn: Db,
    ctx: Ctx,
    file: Annotated[UploadFile, File()],
    instrument_id: Annotated[str, Form(max_length=40)],
    timeframe: Annotated[str, Form(max_length=20)] = "BAR_DAILY",
    price_adjustment: Annotated[str, Form(max_length=20)] = "RAW",
    skip_invalid: Annotated[bool, Form()] = False,
) -> Response:
    """The upload of the data page (sent by script, so it can show a progress bar): JSON {job_id}, or the
    problem the REST handler raised (its status, and the errors per field)."""
    try:
        accepted = await market_data.import_csv(
            session.user_id,
            conn,
            ctx,
            file,
            instrument_id.strip().upper(),
            Timeframe(timeframe),
            skip_invalid,
            False,
            BarAdjustment(price_adjustment),
        )
    except ValueError as exc:
        return JSONResponse({"detail": str(exc), "errors": []}, status_code=422)
    except ProblemError as exc:
        return JSONResponse(exc.problem.model_dump(mode="json"), status_code=exc.problem.status)
    return JSONResponse({"job_id": str(accepted.job_id)}, status_code=202)


@router.get("/data/imports/{job_id}")
async def data_import(request: Request, session: Session, conn: Db, job_id: UUID) -> Response:
    """One import job as a fragment (polled by the data page until it ends)."""
    job = await market_data.import_status(job_id, session.user_id, conn)
    return render(request, "_import.html.j2", job=job.model_dump(mode="json"))
