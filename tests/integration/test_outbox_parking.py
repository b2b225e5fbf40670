"""The outbox relay on the real embedded database (and broker): a row the broker refuses for good is parked
and the relay goes on; a passing failure holds back only later rows of the same key; an oversized envelope
is parked when enqueued."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
import pytest_asyncio
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from shared.contracts import topics
from shared.contracts.events import BarsLoaded, Envelope, make_event
from shared.contracts.models import Timeframe
from shared.contracts.text_bounds import MAX_EVENT_BYTES
from shared.devstack.stack import Endpoints
from shared.platform.db.urls import asyncpg_dsn
from shared.platform.kafka.outbox import OutboxRelay, RelayRetry, enqueue, outbox_status
from shared.platform.kafka.producer import EventPublisher
from shared.platform.kafka.sql import PARKED, PENDING, PUBLISHED, messaging_ddl

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


def _event(instrument: str) -> Envelope[BarsLoaded]:
    now = datetime.now(UTC)
    data = BarsLoaded(instrument_id=instrument, timeframe=Timeframe.BAR_DAILY, first=now, last=now, rows=1)
    return make_event(topics.BARS_LOADED, data, source="bts/test", subject=instrument)


class ScriptedPublisher(EventPublisher):
    """Records what is sent, in order; fails the instruments named in `failures` with the given error."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.failures: dict[str, BaseException] = {}

    async def send_raw(
        self, topic: str, value: bytes, key: str | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        instrument = json.loads(value)["data"]["instrument_id"]
        if instrument in self.failures:
            raise self.failures[instrument]
        self.sent.append(instrument)


@pytest_asyncio.fixture(loop_scope="module")
async def pool(migrated: Endpoints) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    schema = f"t{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(migrated.database_url))
    await admin.execute(f"CREATE SCHEMA {schema}")
    for statement in messaging_ddl(schema):
        await admin.execute(statement)
    await admin.close()
    created = await asyncpg.create_pool(asyncpg_dsn(migrated.database_url), min_size=1, max_size=4)
    try:
        yield schema, created
    finally:
        await created.close()


async def _enqueue(pool: asyncpg.Pool, schema: str, *rows: tuple[str, str | None]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for instrument, key in rows:
            await enqueue(conn, schema, _event(instrument), key)


async def _statuses(pool: asyncpg.Pool, schema: str) -> dict[str, tuple[str, str | None]]:
    rows = await pool.fetch(
        f"SELECT payload->'data'->>'instrument_id' AS i, status, parked_reason FROM {schema}.outbox"
    )
    return {r["i"]: (r["status"], r["parked_reason"]) for r in rows}


async def test_passing_failure_holds_back_only_its_key_and_a_refused_row_is_parked(
    pool: tuple[str, asyncpg.Pool],
) -> None:
    schema, db = pool
    await db.execute(f"TRUNCATE {schema}.outbox")
    publisher = ScriptedPublisher()
    relay = OutboxRelay(db, schema, publisher)
    parked_seen: list[int] = []
    relay.on_parked = parked_seen.append
    await _enqueue(db, schema, ("A1", "a"), ("B1", "b"), ("A2", "a"), ("HUGE", "c"), ("C2", "c"), ("B2", "b"))
    publisher.failures = {"A1": KafkaConnectionError("broker away"), "HUGE": MessageSizeTooLargeError("too large")}

    with pytest.raises(RelayRetry):  # A1 failed for a passing reason: the relay backs off after the pass
        await relay.publish_once()
    assert publisher.sent == ["B1", "C2", "B2"]  # A2 waits behind A1; C2 is not held by the parked row
    statuses = await _statuses(db, schema)
    assert statuses["A1"][0] == statuses["A2"][0] == PENDING
    assert statuses["HUGE"][0] == PARKED
    assert "MessageSizeTooLargeError" in str(statuses["HUGE"][1])
    assert parked_seen == [1]
    assert await relay.parked_rows() == 1
    assert await relay.backlog() == 2

    publisher.failures = {}  # the broker is back
    assert await relay.publish_once() == 2
    assert publisher.sent[-2:] == ["A1", "A2"]  # in order within the key
    assert {s for s, _ in (await _statuses(db, schema)).values()} == {PUBLISHED, PARKED}
    assert await relay.backlog() == 0
    assert await relay.parked_rows() == 1


async def test_a_row_locked_by_another_replica_holds_back_later_rows_of_its_key(
    pool: tuple[str, asyncpg.Pool],
) -> None:
    schema, db = pool
    await db.execute(f"TRUNCATE {schema}.outbox")
    await _enqueue(db, schema, ("X1", "x"), ("X2", "x"), ("Y1", "y"))
    publisher = ScriptedPublisher()
    relay = OutboxRelay(db, schema, publisher)
    async with db.acquire() as other, other.transaction():  # another replica is sending X1
        first = await other.fetchval(f"SELECT min(id) FROM {schema}.outbox")
        await other.execute(f"SELECT 1 FROM {schema}.outbox WHERE id = $1 FOR UPDATE", first)
        assert await relay.publish_once() == 1
        assert publisher.sent == ["Y1"]  # X2 must not overtake X1
    assert await relay.publish_once() == 2
    assert publisher.sent == ["Y1", "X1", "X2"]


async def test_real_broker_refusal_is_parked_and_the_relay_goes_on(
    pool: tuple[str, asyncpg.Pool], endpoints: Endpoints
) -> None:
    schema, db = pool
    await db.execute(f"TRUNCATE {schema}.outbox")
    big = _event("BIG").model_dump(mode="json")
    big["padding"] = "x" * (2 * 1024 * 1024)  # over the producer's 1 MiB request cap: written past enqueue's cap
    await db.execute(
        f"INSERT INTO {schema}.outbox (event_id, topic, key, payload) VALUES ($1, $2, 'k', $3::jsonb)",
        uuid.uuid4(),
        topics.BARS_LOADED,
        json.dumps(big),
    )
    await _enqueue(db, schema, ("AFTER", "k"))
    async with EventPublisher(endpoints.kafka_bootstrap) as publisher:
        relay = OutboxRelay(db, schema, publisher, poll_s=0.2)
        await relay.start()
        try:
            deadline = asyncio.get_running_loop().time() + 60
            while relay.published < 1:
                assert asyncio.get_running_loop().time() < deadline, "the row behind the refused one never left"
                await asyncio.sleep(0.1)
        finally:
            await relay.stop()
    statuses = await _statuses(db, schema)
    assert statuses["BIG"][0] == PARKED
    assert "MessageSizeTooLarge" in str(statuses["BIG"][1])
    assert statuses["AFTER"][0] == PUBLISHED


async def test_an_envelope_over_the_cap_is_parked_at_enqueue(pool: tuple[str, asyncpg.Pool]) -> None:
    schema, db = pool
    await db.execute(f"TRUNCATE {schema}.outbox")
    huge = _event("H" * (MAX_EVENT_BYTES + 1))  # instrument ids are not bounded by the event model
    async with db.acquire() as conn, conn.transaction():
        await enqueue(conn, schema, huge, "k")
    row = await db.fetchrow(f"SELECT status, parked_reason, parked_at FROM {schema}.outbox")
    assert row["status"] == PARKED
    assert row["parked_at"] is not None
    assert f"{MAX_EVENT_BYTES:,}-byte cap" in row["parked_reason"]


async def test_outbox_status_counts_the_backlog_and_lists_parked_rows_newest_first(
    pool: tuple[str, asyncpg.Pool],
) -> None:
    schema, db = pool
    await db.execute(f"TRUNCATE {schema}.outbox")
    await _enqueue(db, schema, ("P1", "p"), ("P2", "p"), ("Q1", "q"))
    await db.execute(
        f"UPDATE {schema}.outbox SET status = $1, parked_reason = 'InvalidTopicError: x', parked_at = now() "
        "WHERE payload->'data'->>'instrument_id' = 'Q1'",
        PARKED,
    )
    async with db.acquire() as conn:
        status = await outbox_status(conn, schema, limit=5)
    assert (status.schema_name, status.pending, status.parked) == (schema, 2, 1)
    assert status.oldest_pending_at is not None
    assert [(r.topic, r.key, r.reason) for r in status.latest_parked] == [
        (topics.BARS_LOADED, "q", "InvalidTopicError: x")
    ]
    assert status.latest_parked[0].payload_bytes > 100
