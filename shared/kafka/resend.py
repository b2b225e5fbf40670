"""Sending an event again, from the owner's outbox: the outbox keeps every event it relayed, so the request
of a job that was lost with the broker, or the terminal event of a job done long ago, can be enqueued again.

The copy is a new event (new id and time: consumers that recognise events by id must see it) with the same
payload, topic and key; consumers recognise the work itself by its id (backtest_id, job_id), so a copy is safe.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal
from uuid import uuid4

from shared.db.types import Connection
from shared.events import parse_event
from shared.kafka.outbox import enqueue

# The id a job's events carry in `data`; the migrations index the outbox on these expressions (sweeps are few).
JobIdField = Literal["backtest_id", "job_id", "sweep_id"]


async def resend_latest(
    conn: Connection, schema: str, topic_names: tuple[str, ...], id_field: JobIdField, id_value: str
) -> bool:
    """Enqueue again (inside the caller's transaction) the latest event of `topic_names` in `schema`'s outbox
    whose `data.<id_field>` is `id_value`.

    False when there is none. An event not relayed yet is left to the relay (True, nothing added)."""
    row = await conn.fetchrow(
        f"SELECT topic, key, payload::text AS payload, published_at FROM {schema}.outbox "
        f"WHERE (payload -> 'data' ->> '{id_field}') = $2 AND topic = ANY($1::text[]) ORDER BY id DESC LIMIT 1",
        list(topic_names),
        id_value,
    )
    if row is None:
        return False
    if row["published_at"] is None:
        return True
    document = json.loads(row["payload"])
    document.update(id=str(uuid4()), time=datetime.now(UTC).isoformat())
    await enqueue(conn, schema, parse_event(row["topic"], json.dumps(document)), key=row["key"])
    return True
