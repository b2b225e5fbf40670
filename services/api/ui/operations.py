"""Operations pages (admins; anyone else gets 403): consumer lag refreshed live with a short history, dead
letters with their reason and a replay button, the gateway's health and readiness, and the outbox backlog of
every service. Each calls the REST /ops handler, so the page shows exactly what `bts ops` shows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.api.handlers import ops
from services.api.handlers.deps import Ctx, Db
from services.api.ui.web import Admin, AdminWriter, ConsoleRoute, render
from shared.contracts import topics

router = APIRouter(prefix="/ui/ops", route_class=ConsoleRoute, include_in_schema=False)
DLQ_SHOWN = 50


@router.get("")
async def ops_page(
    request: Request,
    session: Admin,
    conn: Db,
    ctx: Ctx,
    dlq: Annotated[str, Query(max_length=100)] = topics.BACKTEST_REQUESTED,
    replayed: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    letters = await ops.dead_letters(dlq, session.user_id, ctx, DLQ_SHOWN, False)
    outboxes = await ops.outboxes(session.user_id, conn, 20)
    return render(
        request,
        "ops.html.j2",
        topics=topics.ALL_TOPICS,
        dlq=letters,
        outboxes=outboxes,
        replayed=replayed,
    )


@router.get("/lag")
async def ops_lag(session: Admin, ctx: Ctx) -> Response:
    """Consumer lag per group, topic and partition as JSON, polled by the page (which keeps the history)."""
    found = await ops.consumers(session.user_id, ctx, None)
    return JSONResponse([row.model_dump(mode="json") for row in found], headers={"Cache-Control": "no-store"})


@router.post("/dlq/{topic}/replay")
async def ops_replay(session: AdminWriter, ctx: Ctx, conn: Db, topic: str) -> Response:
    """Put the topic's dead letters back on it (the REST replay: one at a time, each letter once)."""
    outcome = await ops.replay_dead_letters(topic, session.user_id, ctx, conn, None)
    return RedirectResponse(f"/ui/ops?dlq={topic}&replayed={outcome.count}", status_code=303)
