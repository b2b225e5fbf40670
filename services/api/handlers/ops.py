"""/ops: what operators watch and do (consumer lag, dead letters and their replay, the services' outboxes).
Admins only: these routes show every user's traffic and can send it again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from services.api.auth import AdminUser
from services.api.handlers.deps import Ctx, Db
from services.api.problems import ProblemError
from shared.contracts import topics
from shared.platform.db.ownership import SERVICES
from shared.platform.kafka.dlq import DlqListing, ReplayOutcome, list_dlq, replay
from shared.platform.kafka.lag import PartitionLag, consumer_lag
from shared.platform.kafka.outbox import OutboxStatus, outbox_status

router = APIRouter(prefix="/ops", tags=["operations"])
ADMIN_ONLY: dict[int | str, dict[str, Any]] = {403: {"description": "the API key is not an admin's"}}
Topic = Annotated[str, Path(max_length=100, description="a platform topic, e.g. backtest.requested (not its .dlq)")]


@router.get("/consumers", response_model=list[PartitionLag], responses=ADMIN_ONLY)
async def consumers(
    admin: AdminUser, ctx: Ctx, group: Annotated[list[str] | None, Query(max_length=20)] = None
) -> list[PartitionLag]:
    """Per consumer group, topic and partition: committed offset, end offset (high watermark), lag, members."""
    return await consumer_lag(ctx.kafka_bootstrap, group)


def _known(topic: str) -> str:
    if topic not in topics.ALL_TOPICS:
        raise ProblemError(
            404, "Not Found", f"unknown topic {topic!r}; dead letters exist for: {', '.join(topics.ALL_TOPICS)}"
        )
    return topic


@router.get("/dlq/{topic}", response_model=DlqListing, responses=ADMIN_ONLY)
async def dead_letters(
    topic: Topic,
    admin: AdminUser,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    pending: Annotated[bool, Query(description="only those no replay has sent back yet")] = False,
) -> DlqListing:
    """The dead letters of a topic: where they were, which consumer group gave up after how many attempts,
    when and why, and whether a replay already sent them back."""
    return await list_dlq(ctx.kafka_bootstrap, _known(topic), limit, pending_only=pending)


@router.post(
    "/dlq/{topic}/replay",
    response_model=ReplayOutcome,
    responses={**ADMIN_ONLY, 409: {"description": "a replay of this topic is running"}},
)
async def replay_dead_letters(
    topic: Topic,
    admin: AdminUser,
    ctx: Ctx,
    conn: Db,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> ReplayOutcome:
    """Put the dead letters of a topic back on it (after the cause was fixed). A letter is sent once: the next
    replay starts after the last one sent."""
    _known(topic)
    async with conn.transaction():  # one replay of a topic at a time, across gateway replicas
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", f"bts-dlq-replay:{topic}"):
            raise ProblemError(409, "Conflict", f"a replay of {topic} is running; try again when it has finished")
        return await replay(ctx.kafka_bootstrap, topic, limit)


@router.get("/outbox", response_model=list[OutboxStatus], responses=ADMIN_ONLY)
async def outboxes(
    admin: AdminUser,
    conn: Db,
    limit: Annotated[int, Query(ge=0, le=1000, description="latest parked rows listed per schema")] = 20,
) -> list[OutboxStatus]:
    """Per service schema: the unpublished backlog (and its oldest row), the rows parked because the broker
    refused them for good (too large, invalid topic, ...) and the latest of those with reason and time. A parked
    row holds nothing back; its event was not sent (the owner's table keeps the whole detail)."""
    return [await outbox_status(conn, svc.schema, limit) for svc in SERVICES.values()]
