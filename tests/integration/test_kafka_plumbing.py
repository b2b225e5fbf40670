"""Kafka plumbing on the real embedded broker and database: topics, consumer group, DLQ, idempotency, outbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts import topics
from shared.contracts.events import BarsLoaded, Envelope, make_event, parse_event
from shared.contracts.models import Timeframe
from shared.devstack.stack import Endpoints
from shared.platform.db.urls import asyncpg_dsn
from shared.platform.kafka.admin import ensure_topics
from shared.platform.kafka.consumer import EventConsumer
from shared.platform.kafka.dlq import read_dlq, replay
from shared.platform.kafka.inbox import idempotent
from shared.platform.kafka.lag import consumer_lag
from shared.platform.kafka.outbox import OutboxRelay, enqueue
from shared.platform.kafka.producer import EventPublisher
from shared.platform.kafka.sql import messaging_ddl
from shared.platform.kafka.wakeup import IdleFetchPause, topic_notifier
from shared.platform.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


def _event(instrument: str = "AAPL.NASDAQ", rows: int = 1) -> Envelope[BarsLoaded]:
    now = datetime.now(UTC)
    data = BarsLoaded(instrument_id=instrument, timeframe=Timeframe.BAR_DAILY, first=now, last=now, rows=rows)
    return make_event(topics.BARS_LOADED, data, source="bts/test", subject=instrument)


def _as_bars_loaded(_topic: str, raw: bytes) -> Envelope[Any]:
    return parse_event(topics.BARS_LOADED, raw)


async def _wait_for(predicate: Callable[[], bool], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture(loop_scope="module")
async def topic(endpoints: Endpoints) -> str:
    name = f"test.{uuid.uuid4().hex[:8]}"
    await ensure_topics(endpoints.kafka_bootstrap, [name])
    return name


@pytest_asyncio.fixture(loop_scope="module")
async def publisher(endpoints: Endpoints) -> AsyncIterator[EventPublisher]:
    async with EventPublisher(endpoints.kafka_bootstrap) as started:
        yield started


Start = Callable[..., Awaitable[EventConsumer]]


@dataclass
class Scratch:
    """A throw-away schema with the messaging tables, an admin connection and a pool."""

    schema: str
    admin: asyncpg.Connection
    pool: asyncpg.Pool


@pytest_asyncio.fixture(loop_scope="module")
async def scratch(migrated: Endpoints) -> AsyncIterator[Scratch]:
    schema = f"t{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(migrated.database_url))
    await admin.execute(f"CREATE SCHEMA {schema}")
    for statement in messaging_ddl(schema):
        await admin.execute(statement)
    pool = await asyncpg.create_pool(asyncpg_dsn(migrated.database_url), min_size=1, max_size=4)
    try:
        yield Scratch(schema, admin, pool)
    finally:
        await pool.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


@pytest_asyncio.fixture(loop_scope="module")
async def consumer_for(endpoints: Endpoints, publisher: EventPublisher) -> AsyncIterator[Start]:
    started: list[EventConsumer] = []

    async def start(topic: str, handler: Callable[[Envelope[Any]], Awaitable[None]], **kw: Any) -> EventConsumer:
        consumer = EventConsumer(
            Settings(),
            endpoints.kafka_bootstrap,
            f"g-{uuid.uuid4().hex[:8]}",
            [topic],
            handler,
            publisher,
            retry_backoff_s=0.01,
            parse=_as_bars_loaded,
            **kw,
        )
        await consumer.start()
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        await consumer.stop()


async def test_topics_have_their_partitions_and_dead_letter_twins(endpoints: Endpoints, topic: str) -> None:
    await ensure_topics(endpoints.kafka_bootstrap)  # every platform topic; idempotent
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(
            [topics.BACKTEST_REQUESTED, topics.dlq(topics.BACKTEST_REQUESTED), topic]
        )
    finally:
        await admin.close()
    counts = {d["topic"]: len(d["partitions"]) for d in described}
    assert counts == {topics.BACKTEST_REQUESTED: 6, topics.dlq(topics.BACKTEST_REQUESTED): 1, topic: 6}


async def test_keyed_events_reach_a_consumer_group_intact(
    topic: str, publisher: EventPublisher, consumer_for: Start
) -> None:
    received: list[Envelope[Any]] = []

    async def handler(envelope: Envelope[Any]) -> None:
        received.append(envelope)

    await consumer_for(topic, handler)
    sent = [_event(f"S{i}.NASDAQ") for i in range(5)]
    for event in sent:
        await publisher.send_raw(topic, event.model_dump_json().encode(), event.data.instrument_id)
    await _wait_for(lambda: len(received) == 5)
    assert sorted(str(e.id) for e in received) == sorted(str(e.id) for e in sent)
    assert {e.data.instrument_id for e in received} == {e.data.instrument_id for e in sent}


async def test_bad_messages_go_to_the_dlq_and_the_consumer_carries_on(
    endpoints: Endpoints, topic: str, publisher: EventPublisher, consumer_for: Start
) -> None:
    handled: list[str] = []

    async def handler(envelope: Envelope[Any]) -> None:
        if envelope.data.instrument_id == "POISON.NASDAQ":
            raise RuntimeError("cannot handle this one")
        handled.append(envelope.data.instrument_id)

    consumer = await consumer_for(topic, handler)
    await publisher.send_raw(topic, b"not json at all", "k1")
    poison = _event("POISON.NASDAQ")
    await publisher.send_raw(topic, poison.model_dump_json().encode(), "k2")
    await publisher.send_raw(topic, _event("GOOD.NASDAQ").model_dump_json().encode(), "k3")
    await _wait_for(lambda: handled == ["GOOD.NASDAQ"] and consumer.stats.dead_lettered.get(topic) == 2)
    letters = await read_dlq(endpoints.kafka_bootstrap, topic)
    errors = sorted(letter.error for letter in letters)
    assert errors[0].startswith("cannot parse: message is not JSON")
    assert errors[1].startswith("handler failed 3 times: RuntimeError('cannot handle this one')")
    assert len(letters) == 2
    # After the fix, a replay puts them back on the topic.
    replayed = await replay(endpoints.kafka_bootstrap, topic)
    assert replayed.count == 2


async def test_a_redelivered_event_is_handled_once(
    scratch: Scratch, topic: str, publisher: EventPublisher, consumer_for: Start
) -> None:
    schema = scratch.schema
    await scratch.admin.execute(f"CREATE TABLE {schema}.effects (event_id uuid)")

    async def handler(conn: Any, envelope: Envelope[Any]) -> None:
        await conn.execute(f"INSERT INTO {schema}.effects VALUES ($1)", envelope.id)

    consumer = await consumer_for(topic, idempotent(scratch.pool, schema, "group-a", handler))
    event = _event("ONCE.NASDAQ")
    for _ in range(2):  # the same event twice, as at-least-once delivery may bring it
        await publisher.send_raw(topic, event.model_dump_json().encode(), "once")
    await _wait_for(lambda: consumer.stats.consumed.get(topic, 0) >= 2)
    assert await scratch.admin.fetchval(f"SELECT count(*) FROM {schema}.effects") == 1
    assert await scratch.admin.fetchval(f"SELECT count(*) FROM {schema}.processed_events") == 1


async def test_outbox_publishes_only_what_was_committed(
    scratch: Scratch, publisher: EventPublisher, consumer_for: Start
) -> None:
    schema, pool = scratch.schema, scratch.pool
    received: list[str] = []

    async def handler(envelope: Envelope[Any]) -> None:
        received.append(envelope.data.instrument_id)

    relay = OutboxRelay(pool, schema, publisher, poll_s=0.2)
    try:
        rolled_back, committed = _event("NO.NASDAQ"), _event("YES.NASDAQ")

        async def failing_business_write() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await enqueue(conn, schema, rolled_back, "k")
                raise RuntimeError("the business write failed")

        with pytest.raises(RuntimeError):
            await failing_business_write()
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, schema, committed, "k")
        assert await relay.backlog() == 1
        await consumer_for(topics.BARS_LOADED, handler)
        await relay.start()
        await _wait_for(lambda: "YES.NASDAQ" in received)
        assert "NO.NASDAQ" not in received
        await _wait_for(lambda: relay.published == 1)
        assert await relay.backlog() == 0
        await relay.stop()
        await relay.start()  # a restarted relay does not publish it again
        await asyncio.sleep(0.5)
        assert received.count("YES.NASDAQ") == 1
    finally:
        await relay.stop()


async def test_lag_counts_what_a_stopped_group_has_not_read_and_drains(
    endpoints: Endpoints, topic: str, publisher: EventPublisher
) -> None:
    group = f"lag-{uuid.uuid4().hex[:8]}"
    seen: list[str] = []

    async def handler(envelope: Envelope[Any]) -> None:
        seen.append(str(envelope.id))

    def consumer() -> EventConsumer:
        return EventConsumer(
            Settings(), endpoints.kafka_bootstrap, group, [topic], handler, publisher, parse=_as_bars_loaded
        )

    async def total_lag() -> int:
        rows = await consumer_lag(endpoints.kafka_bootstrap, [group], topic_names=[topic])
        return sum(r.lag or 0 for r in rows)

    first = consumer()
    await first.start()
    await publisher.send_raw(topic, _event("LAG0.NASDAQ").model_dump_json().encode(), "LAG0.NASDAQ")
    await _wait_for(lambda: len(seen) == 1)
    await first.stop()  # the group is gone: what follows piles up as lag
    await asyncio.gather(
        *(
            publisher.send_raw(topic, _event(f"LAG{i}.NASDAQ").model_dump_json().encode(), f"LAG{i}.NASDAQ")
            for i in range(1, 8)
        )
    )
    assert await total_lag() == 7  # batched produces: the high watermark, not ListOffsets, gets this right

    second = consumer()
    await second.start()
    try:
        await _wait_for(lambda: len(seen) == 8, within=60)
        deadline = asyncio.get_running_loop().time() + 30
        while (lag := await total_lag()) != 0:
            assert asyncio.get_running_loop().time() < deadline, f"lag stuck at {lag}"
            await asyncio.sleep(0.2)
    finally:
        await second.stop()


def _idle_pause(scratch: Scratch, topic: str, consumer: EventConsumer, poll_s: float) -> IdleFetchPause:
    """A service's idle pause (see shared.platform.runtime.messaging) on a test consumer, with active_s 0.1."""
    processor = consumer.processor
    return IdleFetchPause(
        scratch.pool, [topic], lambda: consumer.kafka, lambda: processor.last_activity, active_s=0.1, poll_s=poll_s
    )


async def test_a_paused_consumer_finds_by_looking_a_message_nobody_announced(
    topic: str, publisher: EventPublisher, consumer_for: Start, scratch: Scratch
) -> None:
    """A producer that sends no NOTIFY (another platform's, a replay): the paused consumer's look (end offsets
    against its positions on the real broker, no fetch) finds the message and resumes it; once it is read,
    looks find nothing and the consumer stays paused."""
    received: list[Envelope[Any]] = []

    async def handler(envelope: Envelope[Any]) -> None:
        received.append(envelope)

    pause = _idle_pause(scratch, topic, await consumer_for(topic, handler), poll_s=0.3)
    await pause.start()
    try:
        await _wait_for(lambda: pause.looks >= 2)
        event = _event("LOOK.NASDAQ")
        await publisher.send_raw(topic, event.model_dump_json().encode(), "LOOK.NASDAQ")  # publisher: no on_sent
        await _wait_for(lambda: len(received) == 1)
        looks = pause.looks
        await _wait_for(lambda: pause.looks >= looks + 1)  # paused again after the message, and looked
        pauses, looks = pause.pauses, pause.looks
        await _wait_for(lambda: pause.looks >= looks + 3)
        assert pause.pauses == pauses  # read to the end: the looks found nothing, no resume
    finally:
        await pause.stop()
    assert [e.id for e in received] == [event.id]


@pytest.mark.parametrize("slow", ["handler", "commit"])
async def test_a_consumer_is_not_paused_while_it_handles_a_message(
    slow: str, topic: str, publisher: EventPublisher, consumer_for: Start, scratch: Scratch
) -> None:
    """Three messages announced at once, each taking longer than active_s, in its handler or in the offset commit
    after it (a loaded broker): a pause then would drop the two fetched behind the first, and nobody announces
    them again (poll_s is beyond the test, so no look finds them either). The consumer stays active while it
    handles a message, commit included, and reads all three."""
    received: list[Envelope[Any]] = []

    async def handler(envelope: Envelope[Any]) -> None:
        if slow == "handler":
            await asyncio.sleep(0.5)
        received.append(envelope)

    consumer = await consumer_for(topic, handler)
    if slow == "commit":
        kafka = consumer.kafka
        assert kafka is not None
        real_commit = kafka.commit

        async def slow_commit(*args: Any, **kwargs: Any) -> None:
            await asyncio.sleep(0.5)
            await real_commit(*args, **kwargs)

        kafka.commit = slow_commit  # type: ignore[method-assign]
    pause = _idle_pause(scratch, topic, consumer, poll_s=3600)
    await pause.start()
    try:
        await _wait_for(lambda: pause.pauses >= 1)
        events = [_event(f"SLOW{i}.NASDAQ") for i in range(3)]
        for event in events:  # one key: one partition, fetched in one batch
            await publisher.send_raw(topic, event.model_dump_json().encode(), "SLOW.NASDAQ")
        await topic_notifier(scratch.pool)(topic)
        await _wait_for(lambda: len(received) == 3, within=15)
    finally:
        await pause.stop()
    assert [e.id for e in received] == [e.id for e in events]
