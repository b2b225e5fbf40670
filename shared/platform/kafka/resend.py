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

from shared.contracts.events import parse_event
from shared.platform.db.types import Connection
from shared.platform.kafka.outbox import enqueue

# The id a job's events carry in `data`; the migrations index the outbox on these expressions (sweeps are few).
JobIdField = Literal["backtest_id", "job_id", "sweep_id"]


async def resend_latest(
    conn: Connection,
    schema: str,
    topic_names: tuple[str, ...],
    id_field: JobIdField,
    id_value: str,
    in_transit_s: float = 0.0,
) -> bool:
    """Enqueue again (inside the caller's transaction) the latest event of `topic_names` in `schema`'s outbox
    whose `data.<id_field>` is `id_value`.

    False when there is none. An event not relayed yet is left to the relay, and one relayed less than
    `in_transit_s` ago is still on its way: True, nothing added (a copy would only be a duplicate)."""
    row = await conn.fetchrow(
        f"SELECT topic, key, payload::text AS payload, published_at IS NULL "
        "OR published_at > now() - make_interval(secs => $3::float8) AS in_transit "
        f"FROM {schema}.outbox WHERE (payload -> 'data' ->> '{id_field}') = $2 AND topic = ANY($1::text[]) "
        "ORDER BY id DESC LIMIT 1",
        list(topic_names),
        id_value,
        in_transit_s,
    )
    if row is None:
        return False
    if row["in_transit"]:
        return True
    document = json.loads(row["payload"])
    document.update(id=str(uuid4()), time=datetime.now(UTC).isoformat())
    await enqueue(conn, schema, parse_event(row["topic"], json.dumps(document)), key=row["key"])
    return True
