"""One page of a filtered list: SELECT ... WHERE <filters> ORDER BY ... LIMIT/OFFSET, and its total count."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.api.domain.listing import Filter
from shared.platform.db.types import Connection


def where(filters: list[Filter]) -> tuple[str, list[Any]]:
    """The WHERE clause of the filters that have a value, with numbered placeholders, and their arguments."""
    clauses: list[str] = []
    args: list[Any] = []
    for f in filters:
        if f.value is None:
            continue
        args.append(f.value)
        clauses.append(f.sql.replace("?", f"${len(args)}"))
    return (" AND ".join(clauses) or "true"), args


async def page(
    conn: Connection, source: str, columns: str, filters: list[Filter], order: str, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """The rows of `source` (a table) that pass `filters`, in `order`, one page; and how many pass in all."""
    clause, args = where(filters)
    n = len(args)
    rows = await conn.fetch(
        f"SELECT {columns} FROM {source} WHERE {clause} ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        limit,
        offset,
    )
    total = await conn.fetchval(f"SELECT count(*) FROM {source} WHERE {clause}", *args)
    return list(rows), int(total)
