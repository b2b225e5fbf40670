"""The page every list endpoint answers: {"items": [...], "total": N, "limit": L, "offset": O}, and the
query parameters they share (docs/api.md, Lists)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from services.api.domain.listing import DEFAULT_LIMIT, MAX_LIMIT
from shared.domain.id_prefix import MIN_PREFIX, PREFIX_PATTERN

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="items that pass the filters, on every page together")
    limit: int
    offset: int


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items skipped")]
IdPrefix = Annotated[
    str | None,
    Query(
        pattern=PREFIX_PATTERN,
        description=f"only ids starting with this (at least {MIN_PREFIX} characters): how the CLI resolves a short id",
    ),
]
Since = Annotated[date | None, Query(description="submitted (created) on or after this day, UTC")]
Until = Annotated[date | None, Query(description="submitted (created) on or before this day, UTC")]
DEFAULT = DEFAULT_LIMIT


def day_start(day: date | None, days_after: int = 0) -> datetime | None:
    """00:00 UTC of `day` plus `days_after` days (until=D filters `< day_start(D, 1)`: D included)."""
    if day is None:
        return None
    try:
        return datetime.combine(day + timedelta(days=days_after), time.min, UTC)
    except OverflowError:  # until=9999-12-31: no upper bound
        return datetime.max.replace(tzinfo=UTC)
