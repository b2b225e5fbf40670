"""The reads the console needs that the REST API does not offer yet: the backtest list sorted by a chosen column
with its total (for paging), the user's recent import jobs, and their backtests that can be compared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from services.api.repository.backtests import STATUS_COLUMNS, status_fields
from services.api.repository.imports import COLUMNS as IMPORT_COLUMNS
from services.api.repository.imports import _decoded as decoded_job  # its jsonb decoding, one definition
from shared.platform.db.types import Connection

# Sortable columns: the query string names a key, never SQL.
SORTS: Final = {
    "submitted": "submitted_at",
    "status": "status",
    "progress": "progress_pct",
    "strategy": "strategy_type",
    "start": "start_date",
}


@dataclass(frozen=True)
class BacktestPage:
    rows: list[dict[str, Any]]
    total: int


async def backtest_page(
    conn: Connection, user: UUID, status: str | None, sort: str, descending: bool, limit: int, offset: int
) -> BacktestPage:
    column = SORTS.get(sort, SORTS["submitted"])
    direction = "DESC" if descending else "ASC"
    rows = await conn.fetch(
        f"SELECT {STATUS_COLUMNS}, count(*) OVER () AS total FROM api.backtest_status "
        "WHERE user_id = $1 AND ($2::text IS NULL OR status = $2) "
        f"ORDER BY {column} {direction} NULLS LAST, submitted_at DESC, id LIMIT $3 OFFSET $4",
        user,
        status,
        limit,
        offset,
    )
    total = int(rows[0]["total"]) if rows else 0
    if not rows and offset:
        total = int(
            await conn.fetchval(
                "SELECT count(*) FROM api.backtest_status WHERE user_id = $1 AND ($2::text IS NULL OR status = $2)",
                user,
                status,
            )
        )
    return BacktestPage([status_fields(r) for r in rows], total)


async def completed_backtests(conn: Connection, user: UUID, limit: int = 200) -> list[dict[str, Any]]:
    """The user's latest COMPLETED backtests (the choices of "compare with")."""
    rows = await conn.fetch(
        f"SELECT {STATUS_COLUMNS} FROM api.backtest_status WHERE user_id = $1 AND status = 'COMPLETED' "
        "ORDER BY submitted_at DESC, id LIMIT $2",
        user,
        limit,
    )
    return [status_fields(r) for r in rows]


async def recent_imports(conn: Connection, user: UUID, limit: int = 20) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {IMPORT_COLUMNS}, file_name FROM api.import_jobs WHERE user_id = $1 "
        "ORDER BY submitted_at DESC, id LIMIT $2",
        user,
        limit,
    )
    return [decoded_job(r) for r in rows]
