"""Transactional outbox: an event is written in the same transaction as the data it announces, and
a relay publishes it afterwards. Nothing is announced that was not committed, nothing committed is
lost: a row is marked published only after the broker acknowledged it (at-least-once).

No row can stop the relay. Order is kept per key (the partition key: all events of one user, instrument,
...), never globally: a row that fails for a passing reason (broker away) holds back only the later rows
of its key, and a row the broker refuses for good (too large, invalid topic, not serialisable) is parked
with its reason and holds back nothing. An envelope over MAX_EVENT_BYTES is parked when enqueued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from aiokafka import errors as kafka_errors
from pydantic import BaseModel, Field

from shared.contracts.events import Envelope
from shared.contracts.text_bounds import MAX_EVENT_BYTES, MAX_SUMMARY_CHARS, clip
from shared.platform.db.listeners import listener_alive
from shared.platform.db.types import Connection
from shared.platform.kafka.producer import EventPublisher
from shared.platform.kafka.sql import PARKED, PENDING, PUBLISHED, notify_channel
from shared.platform.runtime.tasks import cancel

log = structlog.get_logger()

# What the broker (or the client, before sending) refuses whatever the number of attempts: the row is parked.
# Everything else (connection lost, timeouts, leader moves, authorisation until an ACL is fixed) is retried.
REFUSED_FOR_GOOD: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.InvalidTopicError,
    kafka_errors.CorruptRecordException,
    kafka_errors.InvalidTimestampError,
    kafka_errors.UnsupportedForMessageFormatError,
    kafka_errors.PolicyViolationError,
    UnicodeError,  # a payload or header that cannot be encoded
    TypeError,  # ... or serialised
    ValueError,
)
TRANSIENT_FAILURES_PER_PASS = 3  # then the broker is likely away: stop the pass and back off


def refused_for_good(exc: BaseException) -> bool:
    """True when retrying cannot make the broker accept the row (see REFUSED_FOR_GOOD)."""
    return isinstance(exc, REFUSED_FOR_GOOD)


async def enqueue(conn: Connection, schema: str, envelope: Envelope[Any], key: str | None = None) -> None:
    """Call inside the caller's transaction. The NOTIFY is delivered at commit and wakes the relay.

    Events are small by construction (shared.contracts.events bounds every user-derived text); an envelope over
    MAX_EVENT_BYTES anyway is stored parked, so the caller's work commits and the relay never sees it."""
    payload = envelope.model_dump_json()
    size = len(payload.encode())
    reason = None
    if size > MAX_EVENT_BYTES:
        reason = f"envelope of {size:,} bytes is over the {MAX_EVENT_BYTES:,}-byte cap of an event"
        log.error(
            "outbox row parked at enqueue", schema=schema, topic=envelope.type, event_id=str(envelope.id), reason=reason
        )
    await conn.execute(
        f"INSERT INTO {schema}.outbox (event_id, topic, key, payload, status, parked_reason, parked_at) "
        "VALUES ($1, $2, $3, $4::jsonb, $5, $6, CASE WHEN $6::text IS NULL THEN NULL ELSE now() END) "
        "ON CONFLICT (event_id) DO NOTHING",
        *(envelope.id, envelope.type, key, payload, PENDING if reason is None else PARKED, reason),
    )
    if reason is None:
        await conn.execute("SELECT pg_notify($1, '')", notify_channel(schema))


class OutboxRelay:
    """Publishes a schema's outbox in id order within each key. Several replicas may run one: rows are claimed
    with FOR UPDATE SKIP LOCKED. Wakes on NOTIFY, and polls every `poll_s` in case a notification is missed
    (its LISTEN connection lost: it listens again); an idle relay costs one query per `poll_s`."""

    def __init__(
        self, pool: asyncpg.Pool, schema: str, publisher: EventPublisher, batch: int = 100, poll_s: float = 5.0
    ) -> None:
        self.pool, self.schema, self.publisher, self.batch, self.poll_s = pool, schema, publisher, batch, poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None
        self.published = 0
        self.parked = 0
        self.on_parked: Callable[[int], None] | None = None  # e.g. a Prometheus counter

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def backlog(self) -> int:
        """Rows waiting to be published (parked rows are not waiting: see `parked_rows`)."""
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval(f"SELECT count(*) FROM {self.schema}.outbox WHERE status = $1", PENDING))

    async def parked_rows(self) -> int:
        """Rows parked: the broker refused them for good (see GET /api/v1/ops/outbox for why)."""
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval(f"SELECT count(*) FROM {self.schema}.outbox WHERE status = $1", PARKED))

    async def _listen(self) -> Any:
        """A held connection listening for new rows; None while the database is away (the relay polls)."""
        conn = None
        try:
            conn = await self.pool.acquire()
            await conn.add_listener(notify_channel(self.schema), self._on_notify)
            return conn
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await self.pool.release(conn)
            return None

    async def _run(self) -> None:
        listener: Any = None
        backoff = 0.5
        try:
            while True:
                if listener is not None and not listener_alive(listener):  # the database restarted
                    with contextlib.suppress(Exception):
                        await self.pool.release(listener)
                    listener = None
                if listener is None:
                    listener = await self._listen()
                # Cleared before the pass, not after it: a row committed while the pass runs (after its last
                # claim) must wake the wait below at once, not poll_s later (a cancel once waited 5 s for it).
                self._wake.clear()
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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(notify_channel(self.schema), self._on_notify)
                with contextlib.suppress(Exception):
                    await self.pool.release(listener)

    async def publish_once(self) -> int:
        """Publish one batch; returns how many rows were settled (published or parked). Raises RelayRetry after
        settling the rest when a row failed for a passing reason, so the caller backs off."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(self._claim_sql, self.batch)
            outcome = await self._send_in_key_order(rows)
            if outcome.published:
                await conn.execute(
                    f"UPDATE {self.schema}.outbox SET status = $2, published_at = now() WHERE id = ANY($1::bigint[])",
                    outcome.published,
                    PUBLISHED,
                )
            for row_id, reason in outcome.parked:
                await conn.execute(
                    f"UPDATE {self.schema}.outbox SET status = $2, parked_reason = $3, parked_at = now() WHERE id = $1",
                    row_id,
                    PARKED,
                    reason,
                )
        self.published += len(outcome.published)
        self.parked += len(outcome.parked)
        if outcome.parked and self.on_parked is not None:
            self.on_parked(len(outcome.parked))
        if outcome.retry is not None:
            raise RelayRetry(outcome.retry)
        return len(outcome.published) + len(outcome.parked)

    @property
    def _claim_sql(self) -> str:
        # The lowest pending ids not locked by another replica; of those, the rows whose key has no earlier
        # pending row outside this batch (another replica is sending it: its later rows must wait for it).
        table = f"{self.schema}.outbox"
        return (
            f"WITH claimed AS (SELECT id FROM {table} WHERE status = '{PENDING}' ORDER BY id LIMIT $1 "
            "FOR UPDATE SKIP LOCKED) "
            f"SELECT o.id, o.topic, o.key, o.payload::text AS payload, o.event_id FROM {table} o "
            "JOIN claimed USING (id) "
            f"WHERE o.key IS NULL OR NOT EXISTS (SELECT 1 FROM {table} e WHERE e.status = '{PENDING}' "
            "AND e.key = o.key AND e.id < o.id AND e.id NOT IN (SELECT id FROM claimed)) "
            "ORDER BY o.id"
        )

    async def _send_in_key_order(self, rows: list[asyncpg.Record]) -> BatchOutcome:
        outcome = BatchOutcome()
        held_keys: set[str] = set()  # a row of these keys failed in this pass: their later rows wait
        failures = 0
        for row in rows:
            if row["key"] is not None and row["key"] in held_keys:
                continue
            try:
                await self._send(row)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if refused_for_good(exc):
                    reason = clip(f"{type(exc).__name__}: {exc}", MAX_SUMMARY_CHARS)
                    log.error(
                        "outbox row parked",
                        schema=self.schema,
                        id=row["id"],
                        topic=row["topic"],
                        key=row["key"],
                        reason=reason,
                    )
                    outcome.parked.append((row["id"], reason))
                    continue
                outcome.retry = exc
                if row["key"] is not None:
                    held_keys.add(row["key"])
                failures += 1
                if failures >= TRANSIENT_FAILURES_PER_PASS:
                    break
                continue
            outcome.published.append(row["id"])
        return outcome

    async def _send(self, row: asyncpg.Record) -> None:
        payload: str = row["payload"]
        envelope = json.loads(payload)
        correlation_id = envelope.get("correlation_id", "") if isinstance(envelope, dict) else ""
        headers = [
            ("event_id", str(row["event_id"]).encode()),
            ("type", row["topic"].encode()),
            ("correlation_id", str(correlation_id).encode()),
        ]
        await self.publisher.send_raw(row["topic"], payload.encode(), row["key"], headers)


class RelayRetry(Exception):
    """Some rows of a batch failed for a passing reason (they stay pending); the relay backs off."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


@dataclass
class BatchOutcome:
    published: list[int] = field(default_factory=list)
    parked: list[tuple[int, str]] = field(default_factory=list)
    retry: BaseException | None = None


class ParkedRow(BaseModel):
    id: int = Field(description="the row's id in its schema's outbox")
    event_id: UUID
    topic: str
    key: str | None
    reason: str = Field(description="why the broker (or the client) refused it for good")
    created_at: datetime
    parked_at: datetime
    payload_bytes: int = Field(description="size of the envelope")


class OutboxStatus(BaseModel):
    schema_name: str = Field(description="the service schema whose outbox this is")
    pending: int = Field(description="rows waiting to be published (the backlog)")
    oldest_pending_at: datetime | None = Field(description="when the oldest waiting row was written")
    parked: int = Field(description="rows parked: they hold nothing back, an operator looks at them")
    latest_parked: list[ParkedRow] = Field(description="the most recently parked rows, newest first")


async def outbox_status(conn: Connection, schema: str, limit: int = 20) -> OutboxStatus:
    """Backlog, parked count and the latest parked rows of one schema's outbox, read through its read view
    `<schema>.v_outbox` (the gateway may SELECT it, not the outbox itself)."""
    (counts,) = await conn.fetch(  # an aggregate: always one row
        f"SELECT count(*) FILTER (WHERE status = $1) AS pending, min(created_at) FILTER (WHERE status = $1) AS "
        f"oldest, count(*) FILTER (WHERE status = $2) AS parked FROM {schema}.v_outbox WHERE status IN ($1, $2)",
        PENDING,
        PARKED,
    )
    rows = await conn.fetch(
        "SELECT id, event_id, topic, key, coalesce(parked_reason, '') AS reason, created_at, parked_at, "
        f"payload_bytes FROM {schema}.v_outbox WHERE status = $1 "
        "ORDER BY parked_at DESC, id DESC LIMIT $2",
        PARKED,
        limit,
    )
    return OutboxStatus(
        schema_name=schema,
        pending=counts["pending"],
        oldest_pending_at=counts["oldest"],
        parked=counts["parked"],
        latest_parked=[ParkedRow(**dict(r)) for r in rows],
    )
