"""/ops: what operators watch (consumer groups and their lag)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.api.auth import CurrentUser
from services.api.handlers.deps import Ctx
from shared.kafka.lag import PartitionLag, consumer_lag

router = APIRouter(prefix="/ops", tags=["operations"])


@router.get("/consumers", response_model=list[PartitionLag])
async def consumers(
    user: CurrentUser, ctx: Ctx, group: Annotated[list[str] | None, Query(max_length=20)] = None
) -> list[PartitionLag]:
    """Per consumer group, topic and partition: committed offset, end offset (high watermark), lag, members."""
    return await consumer_lag(ctx.kafka_bootstrap, group)
