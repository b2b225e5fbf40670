"""/backtests: submit (checked, then published through the outbox), follow, and read the results."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import PurePath
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import ValidationError

from services.api import correlation, sharing
from services.api.auth import CurrentUser
from services.api.domain.listing import Filter, prefix_like
from services.api.domain.read_models import TERMINAL
from services.api.finished import FINISHED
from services.api.handlers.deps import Ctx, Db
from services.api.pagination import DEFAULT, IdPrefix, Limit, Offset, Page, Since, Until, day_start
from services.api.problems import ProblemError, not_found, refused_problem, validation_problem
from services.api.repository.backtests import list_status, status_fields
from services.api.repository.backtests import status_row as read_status_row
from services.api.schemas import (
    BacktestAccepted,
    BacktestSubmit,
    BacktestSummary,
    ReportOut,
    ResultOut,
    SnapshotOut,
    TradeOut,
)
from services.api.service_layer.backtests import submit_backtest
from services.api.service_layer.submission import Refused
from services.api.service_layer.unit_of_work import PostgresUnitOfWork
from shared.contracts.models import BacktestStatus, BacktestStatusResponse, Timeframe
from shared.platform.db.reads import (
    fetch_reports,
    fetch_result,
    fetch_snapshots,
    result_exists,
)
from shared.platform.db.reads import fetch_trades as read_trades
from shared.platform.db.types import Connection
from shared.platform.runtime.service import ServiceContext
from shared.platform.settings import Settings

router = APIRouter(prefix="/backtests", tags=["backtests"])
POLL_S = 0.25


async def owned(backtest_id: UUID, user: CurrentUser, ctx: Ctx) -> dict[str, Any]:
    """The backtest's status row if it is the caller's; 404 otherwise (also for another user's id)."""
    cached = FINISHED.status.get((user, backtest_id))
    if cached is not None:
        return cached
    async with ctx.pool.acquire() as conn:
        row = await read_status_row(conn, user, backtest_id)
    if row is None:
        raise not_found("backtest", backtest_id)
    fields = status_fields(row)
    if fields["status"] in TERMINAL:
        FINISHED.status[(user, backtest_id)] = fields
    return fields


Owned = Annotated[dict[str, Any], Depends(owned)]


def _summary(values: dict[str, Any]) -> BacktestSummary:
    return BacktestSummary.model_validate(values)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=BacktestAccepted)
async def submit(
    body: BacktestSubmit,
    user: CurrentUser,
    conn: Db,
    timeframe: Annotated[Timeframe, Query(description="bars the strategy runs on")] = Timeframe.BAR_DAILY,
) -> BacktestAccepted:
    """Check everything that can be checked now (422 with the reasons), then queue the run: the status
    is PENDING at once and follows the engine's events."""
    try:
        config = body.configuration()
    except ValidationError as exc:
        raise validation_problem(exc) from exc
    try:
        backtest_id = await submit_backtest(PostgresUnitOfWork(conn), user, config, timeframe, correlation.current())
    except Refused as refused:
        raise refused_problem(refused) from refused
    return BacktestAccepted(id=backtest_id)


@router.get("", response_model=Page[BacktestSummary])
async def list_backtests(
    user: CurrentUser,
    conn: Db,
    status: Annotated[BacktestStatus | None, Query()] = None,
    strategy_id: Annotated[UUID | None, Query()] = None,
    instrument_id: Annotated[str | None, Query(max_length=64, description="runs that traded it")] = None,
    since: Since = None,
    until: Until = None,
    id_prefix: IdPrefix = None,
    limit: Limit = DEFAULT,
    offset: Offset = 0,
) -> Page[BacktestSummary]:
    """Your backtests, newest first (also those published straight to Kafka), one page at a time."""
    filters = [
        Filter("status = ?", status.value if status else None),
        Filter("strategy_id = ?", strategy_id),
        Filter("? = ANY(instrument_ids)", instrument_id),
        Filter("submitted_at >= ?", day_start(since)),
        Filter("submitted_at < ?", day_start(until, 1)),
        Filter("id::text LIKE ?", prefix_like(id_prefix)),
    ]
    rows, total = await list_status(conn, user, filters, limit, offset)
    return Page(items=[_summary(status_fields(r)) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{backtest_id}", response_model=BacktestStatusResponse)
async def get_status(backtest: Owned) -> Response:
    """The data model's BacktestStatusResponse: status, progress_pct, estimated_completion, error_message."""
    body = BacktestStatusResponse.model_validate(backtest).model_dump_json().encode()  # validated once, not twice
    if backtest["status"] in TERMINAL:
        FINISHED.status_body[(backtest["user_id"], backtest["id"])] = body
    return Response(body, media_type="application/json")


@router.get(
    "/{backtest_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"description": "text/event-stream: `status` events, then `end` (or `idle`)"}},
)
async def events(backtest: Owned, ctx: Ctx, request: Request) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: one `status` event per change (progress_pct, status). When the backtest is COMPLETED
    or FAILED, a final `end` event (status, error_message, and a summary of the result) closes the stream. A
    stream with no change for BTS_SSE_IDLE_S (300 s) closes with an `idle` event (reconnect to follow on);
    meanwhile a comment every BTS_SSE_KEEPALIVE_S (15 s) keeps proxies from cutting it."""
    settings = ctx.settings
    user, backtest_id = backtest["user_id"], backtest["id"]
    clock = asyncio.get_running_loop().time
    last: str | None = None
    changed_at = kept_alive_at = clock()
    while True:
        async with ctx.pool.acquire() as conn:
            row = await read_status_row(conn, user, backtest_id)
        if row is None:
            return
        current = BacktestStatusResponse.model_validate(status_fields(row))
        text, now = current.model_dump_json(), clock()
        if text != last:
            last, changed_at, kept_alive_at = text, now, now
            yield ServerSentEvent(data=current.model_dump(mode="json"), event="status", id=str(row["updated_at"]))
        elif now - kept_alive_at >= settings.sse_keepalive_s:
            kept_alive_at = now
            yield ServerSentEvent(comment="keep-alive")
        if current.status.value in TERMINAL:
            yield ServerSentEvent(data=await _ending(ctx, current), event="end")
            return
        if now - changed_at >= settings.sse_idle_s:
            idle = {
                "status": current.status.value,
                "idle_s": settings.sse_idle_s,
                "detail": "no change for a while: the stream closes; reconnect to follow on",
            }
            yield ServerSentEvent(data=idle, event="idle")
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_S)


RESULT_SUMMARY = (("returns", "total_return"), ("risk", "sharpe_ratio"), ("risk", "max_drawdown"))


async def _ending(ctx: ServiceContext, current: BacktestStatusResponse) -> dict[str, Any]:
    """The `end` event: how the run ended, with its result's headline figures when there is a result."""
    async with ctx.pool.acquire() as conn:
        result = await fetch_result(conn, current.id, with_series=False)
    ending: dict[str, Any] = {
        "id": str(current.id),
        "status": current.status.value,
        "error_message": current.error_message,
        "result": None,
    }
    if result is not None:
        metrics = result.metrics or {}
        ending["result"] = {
            "trades_count": result.trades_count,
            "winning_trades": result.winning_trades,
            "losing_trades": result.losing_trades,
            "warnings": result.warnings,
            **{name: (metrics.get(group) or {}).get(name) for group, name in RESULT_SUMMARY},
        }
    return ending


def _no_result(backtest: dict[str, Any], settings: Settings) -> ProblemError:
    """No engine row: not started yet (409), or finished and deleted by retention (410 Gone)."""
    if backtest["status"] in TERMINAL:
        kept = settings.result_retention_days
        return ProblemError(
            410,
            "Gone",
            f"the result of backtest {backtest['id']} ({backtest['status']}) was deleted: "
            f"results are kept {kept} days after they finish",
        )
    return ProblemError(409, "Conflict", f"backtest {backtest['id']} is {backtest['status']}: no result yet")


async def _result(conn: Connection, backtest: dict[str, Any], settings: Settings) -> Any:
    result = await fetch_result(conn, backtest["id"], with_series=False)
    if result is None:
        raise _no_result(backtest, settings)
    return result


async def _still_there(conn: Connection, backtest: dict[str, Any], settings: Settings) -> None:
    """Trades and snapshots of a finished backtest whose result expired: 410, not an empty list."""
    if backtest["status"] in TERMINAL and not await result_exists(conn, backtest["id"]):
        raise _no_result(backtest, settings)


GONE: dict[int | str, dict[str, Any]] = {
    410: {"description": "the result was deleted by retention (kept BTS_RESULT_RETENTION_DAYS, 365)"}
}


@router.get(
    "/{backtest_id}/result",
    response_model=ResultOut,
    responses={409: {"description": "the engine has not started it yet"}, **GONE},
)
async def get_result(backtest: Owned, ctx: Ctx) -> Response:
    """The data model's BacktestResult with its metrics JSON (fractions: total_return 0.15 is 15%)."""
    body = FINISHED.result_body.get(backtest["id"])
    if body is None and backtest.get("imported"):
        body = sharing.result_body(await _imported(ctx, backtest), backtest["id"])
    if body is None:
        async with ctx.pool.acquire() as conn:
            result = await _result(conn, backtest, ctx.settings)
        shown = ResultOut.model_validate(result.model_dump(exclude={"user_id", "request", "progress_pct", "series"}))
        body = shown.model_dump_json().encode()
        if result.status in TERMINAL:
            FINISHED.result_body[backtest["id"]] = body
    return Response(body, media_type="application/json")


Format = Annotated[Literal["json", "csv"], Query(description="csv: one row per item, the data model's column names")]
TRADE_COLUMNS = list(TradeOut.model_fields)
SNAPSHOT_COLUMNS = list(SnapshotOut.model_fields)


def _csv(columns: list[str], rows: Iterable[dict[str, Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for k, v in row.items()})
    return Response(buffer.getvalue(), media_type="text/csv")


CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **GONE}


@router.get("/{backtest_id}/trades", response_model=list[TradeOut], responses=CSV_RESPONSE)
async def get_trades(backtest: Owned, conn: Db, ctx: Ctx, format: Format = "json") -> Any:
    """The data model's Trade fields: entry/exit, side, quantity, commission, slippage, pnl, pnl_pct."""
    if backtest.get("imported"):
        rows = sharing.csv_rows((await _imported(ctx, backtest)).read("trades.csv"))
    else:
        await _still_there(conn, backtest, ctx.settings)
        rows = [dict(r) for r in await read_trades(conn, backtest["id"])]
    trades = [TradeOut.model_validate(r) for r in rows]
    if format == "csv":
        return _csv(TRADE_COLUMNS, (t.model_dump(mode="json") for t in trades))
    return trades


@router.get("/{backtest_id}/portfolio", response_model=list[SnapshotOut], responses=CSV_RESPONSE)
async def get_portfolio(
    backtest: Owned,
    conn: Db,
    ctx: Ctx,
    daily: Annotated[bool, Query(description="only the end-of-day snapshots")] = False,
    format: Format = "json",
) -> Any:
    """Portfolio snapshots at each trade event and at each day's end, in time order."""
    if backtest.get("imported"):  # the bundle has every snapshot, without their kind: `daily` cannot select
        rows: list[Any] = sharing.csv_rows((await _imported(ctx, backtest)).read("portfolio.csv"))
    else:
        await _still_there(conn, backtest, ctx.settings)
        rows = list(await fetch_snapshots(conn, backtest["id"], "DAILY" if daily else None))
    snapshots = [SnapshotOut.model_validate({**dict(r), "positions": _positions(r["positions"])}) for r in rows]
    if format == "csv":
        return _csv(SNAPSHOT_COLUMNS, (s.model_dump(mode="json") for s in snapshots))
    return snapshots


def _positions(value: Any) -> list[dict[str, Any]]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return list(loaded or [])


@router.get("/{backtest_id}/reports", response_model=list[ReportOut])
async def get_reports(backtest: Owned, conn: Db, request: Request) -> list[ReportOut]:
    """The HTML, CSV and JSON reports of a completed backtest, each with its download URL."""
    if backtest.get("imported"):
        return await _imported_reports(conn, backtest, request)
    rows = await fetch_reports(conn, backtest["id"])
    return [
        ReportOut(
            **{k: r[k] for k in ("id", "backtest_result_id", "report_type", "generated_at", "content_hash")},
            file_name=PurePath(r["file_path"]).name,
            download_url=str(request.url_for("download_report", report_id=r["id"])),
        )
        for r in rows
    ]


async def _imported(ctx: ServiceContext, backtest: dict[str, Any]) -> sharing.Imported:
    async with ctx.pool.acquire() as conn:
        found = await sharing.imported(conn, backtest["id"])
    if found is None:
        raise _no_result(backtest, ctx.settings)
    return found


REPORT_TYPES = {".html": "HTML", ".csv": "CSV", ".json": "JSON"}


async def _imported_reports(conn: Connection, backtest: dict[str, Any], request: Request) -> list[ReportOut]:
    """An imported backtest's reports: the bundle's files (ids derived from the backtest and the name)."""
    found = await sharing.imported(conn, backtest["id"])
    if found is None:
        return []
    return [
        ReportOut(
            id=uuid.uuid5(backtest["id"], name),
            backtest_result_id=backtest["id"],
            report_type=REPORT_TYPES.get(PurePath(name).suffix, "FILE"),
            generated_at=backtest["updated_at"],
            content_hash=str(found.files[name]["sha256"]),
            file_name=PurePath(name).name,
            download_url=str(request.url_for("imported_file", backtest_id=backtest["id"], name=name)),
        )
        for name in found.reports()
    ]
