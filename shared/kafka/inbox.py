"""Idempotent handling: a handler's writes and the record of the event id commit together, so a
redelivered event is recognised and skipped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from shared.db.types import Connection
from shared.events import Envelope

TxHandler = Callable[[Connection, Envelope[Any]], Awaitable[None]]


async def claim(conn: Connection, schema: str, group: str, envelope: Envelope[Any]) -> bool:
    """Inside a transaction: True the first time this group sees the event, False for a redelivery."""
    inserted = await conn.fetchval(
        f"INSERT INTO {schema}.processed_events (consumer_group, event_id, topic) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING true",
        group, envelope.id, envelope.type,
    )  # fmt: skip
    return bool(inserted)


def idempotent(
    pool: asyncpg.Pool, schema: str, group: str, handler: TxHandler
) -> Callable[[Envelope[Any]], Awaitable[None]]:
    """Wrap a transactional handler: it runs once per event id, in the transaction that records the id."""

    async def handle(envelope: Envelope[Any]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            if await claim(conn, schema, group, envelope):
                await handler(conn, envelope)

    return handle
