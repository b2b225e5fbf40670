"""Idempotent handling: a handler's writes and the record of the event id commit together, so a
redelivered event is recognised and skipped.

The key recorded is the event id by default. A consumer whose events each describe one unit of work
(an import job, a backtest result) records that unit's id instead, so the same work re-sent in a new
envelope (a producer's retry, a replay by hand) is recognised too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg

from shared.contracts.events import Envelope
from shared.platform.db.types import Connection

TxHandler = Callable[[Connection, Envelope[Any]], Awaitable[None]]
IdempotencyKey = Callable[[Envelope[Any]], UUID]


def event_id(envelope: Envelope[Any]) -> UUID:
    return envelope.id


async def claim(
    conn: Connection, schema: str, group: str, envelope: Envelope[Any], key: IdempotencyKey = event_id
) -> bool:
    """Inside a transaction: True the first time this group sees the key, False for a redelivery."""
    return await claim_work(conn, schema, group, key(envelope), envelope.type)


async def claim_work(conn: Connection, schema: str, group: str, work_id: UUID, topic: str) -> bool:
    """`claim` for work found without an event (a reconciler's): True if no one handled `work_id` yet. Waits
    while another transaction holds the claim, so the work is never done twice."""
    inserted = await conn.fetchval(
        f"INSERT INTO {schema}.processed_events (consumer_group, event_id, topic) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING true",
        group,
        work_id,
        topic,
    )
    return bool(inserted)


def idempotent(
    pool: asyncpg.Pool,
    schema: str,
    group: str,
    handler: TxHandler,
    key: IdempotencyKey = event_id,
    on_repeat: TxHandler | None = None,
) -> Callable[[Envelope[Any]], Awaitable[None]]:
    """Wrap a transactional handler: it runs once per key (the event id unless given), in the transaction
    that records the key. `on_repeat` runs instead for a key handled before (e.g. to announce the end of
    a job requested again)."""

    async def handle(envelope: Envelope[Any]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            if await claim(conn, schema, group, envelope, key):
                await handler(conn, envelope)
            elif on_repeat is not None:
                await on_repeat(conn, envelope)

    return handle
