"""Transactional outbox: an event is written in the same transaction as the data it announces, and
a relay publishes it afterwards. Nothing is announced that was not committed, nothing committed is
lost: a row is marked published only after the broker acknowledged it (at-least-once)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import asyncpg
import structlog

from shared.db.types import Connection
from shared.events import Envelope
from shared.kafka.producer import EventPublisher
from shared.kafka.sql import notify_channel
from shared.runtime.tasks import cancel

log = structlog.get_logger()


async def enqueue(conn: Connection, schema: str, envelope: Envelope[Any], key: str | None = None) -> None:
    """Call inside the caller's transaction. The NOTIFY is delivered at commit and wakes the relay."""
    await conn.execute(
        f"INSERT INTO {schema}.outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4::jsonb) "
        "ON CONFLICT (event_id) DO NOTHING",
        envelope.id, envelope.type, key, envelope.model_dump_json(),
    )  # fmt: skip
    await conn.execute("SELECT pg_notify($1, '')", notify_channel(schema))


class OutboxRelay:
    """Publishes a schema's outbox in id order. Several replicas may run one: rows are claimed with
    FOR UPDATE SKIP LOCKED. Wakes on NOTIFY, and polls every `poll_s` in case a notification is missed."""

    def __init__(self, pool: asyncpg.Pool, schema: str, publisher: EventPublisher, batch: int = 100,
                 poll_s: float = 1.0) -> None:  # fmt: skip
        self.pool, self.schema, self.publisher, self.batch, self.poll_s = pool, schema, publisher, batch, poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None
        self.published = 0

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def backlog(self) -> int:
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval(f"SELECT count(*) FROM {self.schema}.outbox WHERE published_at IS NULL"))

    async def _listen(self) -> Any:
        try:
            conn = await self.pool.acquire()
            await conn.add_listener(notify_channel(self.schema), self._on_notify)
            return conn
        except (OSError, asyncpg.PostgresError):
            return None

    async def _run(self) -> None:
        listener: Any = None
        backoff = 0.5
        try:
            while True:
                if listener is None:
                    listener = await self._listen()
                try:
                    while await self.publish_once():
                        pass
                    backoff = 0.5
                except (OSError, asyncpg.PostgresError, Exception) as exc:  # broker or database away: retry
                    log.warning("outbox relay retrying", schema=self.schema, error=str(exc), backoff_s=backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    if listener is not None:
                        with contextlib.suppress(Exception):
                            await listener.remove_listener(notify_channel(self.schema), self._on_notify)
                            await self.pool.release(listener)
                        listener = None
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(notify_channel(self.schema), self._on_notify)
                with contextlib.suppress(Exception):
                    await self.pool.release(listener)

    async def publish_once(self) -> int:
        """Publish one batch; returns how many rows were published."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT id, topic, key, payload::text AS payload, event_id FROM {self.schema}.outbox "
                "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch,
            )
            for row in rows:
                payload = row["payload"]
                envelope = json.loads(payload)
                headers = [("event_id", str(row["event_id"]).encode()), ("type", row["topic"].encode()),
                           ("correlation_id", str(envelope.get("correlation_id", "")).encode())]  # fmt: skip
                await self.publisher.send_raw(row["topic"], payload.encode(), row["key"], headers)
            if rows:
                await conn.execute(
                    f"UPDATE {self.schema}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                    [r["id"] for r in rows],
                )
        self.published += len(rows)
        return len(rows)
