"""Consuming a topic in a consumer group: parse, hand to the handler, commit; bad messages go to the DLQ.

- A message that cannot be parsed (not JSON, wrong schema, wrong type, too big) goes to `<topic>.dlq`
  at once with the error; one whose handler keeps failing goes there after `max_attempts`. Either way
  the offset is committed and the consumer carries on.
- A message given up on (dead-lettered) after it was parsed is handed to the topic's give-up hook, if the
  service set one (`on_give_up`): the job it asked for ends FAILED with the reason, its failure event out.
- A transient failure (database or broker away, see `shared.platform.runtime.transient`) is not the message's
  fault: the handler is retried with a capped backoff until the dependency is back, without using up
  attempts, and nothing is committed meanwhile. Committing and dead-lettering wait out outages too.
- Messages of a partition are handled one after another, in order (per-key order: backtests are keyed
  by user, so one user's backtests run one at a time).
- Offsets are committed after handling (at-least-once); handlers are idempotent (see `inbox`).
- Consumer timeouts suit Tansu's slow group joins and stay valid on Apache Kafka.

One messaging style: every consumer of the platform is a FastStream subscriber (the gateway's on its
KafkaRouter, each worker's on its own KafkaBroker) with the same options (`subscriber_options`) whose
body is `handle_record`: the processor below, then a commit that waits out broker outages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from shared.contracts import topics
from shared.contracts.events import Envelope, parse_event
from shared.platform.kafka.dlq import REPLAY_FOR_HEADER, DeadLetter
from shared.platform.kafka.producer import RawSender
from shared.platform.kafka.security import faststream_security
from shared.platform.runtime.transient import backoff_delay, is_transient, retry_while_transient
from shared.platform.settings import Settings

log = structlog.get_logger()

Handler = Callable[[Envelope[Any]], Awaitable[None]]
GiveUp = Callable[[Envelope[Any], str], Awaitable[None]]  # (the message given up on, why)
MAX_MESSAGE_BYTES = 1_000_000
FETCHER_BACKSTOP_MS = 1_000  # aiokafka's consumer_timeout_ms: see subscriber_options


@dataclass
class ConsumerStats:
    """Counters a service exports as metrics."""

    consumed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    dead_lettered: dict[str, int] = field(default_factory=dict)
    handler_seconds: list[float] = field(default_factory=list)
    observe: Callable[[str, str, float], None] | None = None  # (topic, outcome, seconds)

    def count(self, bucket: dict[str, int], topic: str) -> None:
        bucket[topic] = bucket.get(topic, 0) + 1


class MessageProcessor:
    """Parse, hand to the handler with retries, or dead-letter: one record at a time. Never raises (but for
    cancellation), so whoever drives it (our aiokafka loop, or a FastStream subscriber) can commit after it."""

    def __init__(
        self,
        group_id: str,
        handler: Handler,
        publisher: RawSender,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.5,
        parse: Callable[[str, bytes], Envelope[Any]] = parse_event,
    ) -> None:
        self.group_id, self.handler, self.publisher, self.parse = group_id, handler, publisher, parse
        self.max_attempts, self.retry_backoff_s = max_attempts, retry_backoff_s
        self.stats = ConsumerStats()
        self.on_dead_letter: Callable[[str], None] | None = None  # (topic) -> None, for metrics
        self.on_give_up: dict[str, GiveUp] = {}  # topic -> what ends the job of a message given up on
        self._handling = 0  # messages being handled now
        self.hold_until: asyncio.Event | None = None  # set: handling may begin (the service has started)
        self._finished_at = time.monotonic()

    @property
    def last_activity(self) -> float:
        """When the last message was finished, or now while one is being handled (idle detection: see
        wakeup.IdleFetchPause). A consumer paused during a long handler dropped the messages it had fetched
        behind it, and they waited for the next notification or look."""
        return time.monotonic() if self._handling else self._finished_at

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """A message is being handled while this is open (see `last_activity`): `handle_record` opens it."""
        self._handling += 1
        try:
            yield
        finally:
            self._handling -= 1
            self._finished_at = time.monotonic()

    async def process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        topic = record.topic
        if replayed_for_another_group(record, self.group_id):
            return  # a dead letter of another group, replayed: that group handles it, we did long ago
        self.stats.count(self.stats.consumed, topic)
        raw = record.value or b""
        try:
            if len(raw) > MAX_MESSAGE_BYTES:
                raise ValueError(f"message of {len(raw)} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")
            envelope = self.parse(topic, raw)
        except ValueError as exc:
            await self._dead_letter(record, f"cannot parse: {exc}", attempts=0)
            return
        structlog.contextvars.bind_contextvars(event_id=str(envelope.id), correlation_id=envelope.correlation_id)
        try:
            attempt = outages = 0  # the message's own failures / transient ones (not counted against it)
            while True:
                started = time.perf_counter()
                try:
                    await self.handler(envelope)
                    self._observe(topic, "ok", started)
                    log.info(
                        "message handled",
                        topic=topic,
                        partition=record.partition,
                        offset=record.offset,
                        attempt=attempt,
                        ms=round((time.perf_counter() - started) * 1000, 1),
                    )
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._observe(topic, "error", started)
                    if is_transient(exc):
                        outages += 1
                        delay = backoff_delay(outages, self.retry_backoff_s)
                        log.warning(
                            "dependency unavailable, handler will retry",
                            topic=topic,
                            error=repr(exc),
                            retry_in_s=delay,
                            failures=outages,
                        )
                        await asyncio.sleep(delay)
                        continue
                    attempt += 1
                    log.warning("handler failed", topic=topic, attempt=attempt, error=repr(exc))
                    if attempt >= self.max_attempts:
                        reason = f"handler failed {attempt} times: {exc!r}"
                        await self._dead_letter(record, reason, attempts=attempt)
                        await self._give_up(envelope, reason)
                        return
                    await asyncio.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
        finally:
            structlog.contextvars.unbind_contextvars("event_id", "correlation_id")

    async def _give_up(self, envelope: Envelope[Any], reason: str) -> None:
        """Run the topic's give-up hook; it waits out outages, and its own failure never stops the consumer."""
        hook = self.on_give_up.get(envelope.type)
        if hook is None:
            return
        try:
            await retry_while_transient(lambda: hook(envelope, reason), f"give up on {envelope.type}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("give-up hook failed; its owner's reconciler ends the job", topic=envelope.type, error=repr(exc))

    def _observe(self, topic: str, outcome: str, started: float) -> None:
        seconds = time.perf_counter() - started
        self.stats.handler_seconds.append(seconds)
        del self.stats.handler_seconds[:-1000]
        if self.stats.observe is not None:
            self.stats.observe(topic, outcome, seconds)

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], error: str, attempts: int) -> None:
        self.stats.count(self.stats.failed, record.topic)
        letter = DeadLetter.of(record, error=error, group=self.group_id, attempts=attempts)
        value, key = letter.model_dump_json().encode(), record.key.decode(errors="replace") if record.key else None
        # the offset is committed only after the letter is stored: a broker outage here is waited out
        await retry_while_transient(
            lambda: self.publisher.send_raw(topics.dlq(record.topic), value, key),
            f"dead-letter to {topics.dlq(record.topic)}",
        )
        self.stats.count(self.stats.dead_lettered, record.topic)
        if self.on_dead_letter is not None:
            self.on_dead_letter(record.topic)
        log.error(
            "message dead-lettered", topic=record.topic, partition=record.partition, offset=record.offset, error=error
        )


def replayed_for_another_group(record: ConsumerRecord[bytes, bytes], group_id: str) -> bool:
    """A replayed dead letter is meant for the consumer group that gave up on it (header REPLAY_FOR_HEADER):
    other groups of the topic handled the original already, and a poison message that several groups
    dead-lettered must not come back once per group to every group (and multiply with each replay)."""
    for name, value in record.headers or ():
        if name == REPLAY_FOR_HEADER:
            return bytes(value).decode(errors="replace") != group_id
    return False


def subscriber_options(settings: Settings, group_id: str) -> dict[str, Any]:
    """How every consumer of the platform subscribes (the gateway's router and the workers' brokers alike):
    in its service's group, from the earliest offset, committing itself after each record (`commit_handled`)."""
    return {
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.MANUAL,  # committed by `commit_handled`, which waits out broker outages
        "max_poll_interval_ms": 3_600_000,  # a backtest may run for many minutes between polls
        "fetch_max_bytes": 4 * MAX_MESSAGE_BYTES,
        # aiokafka's fetch loop wakes for every event it waits on (a fetch answered, a record consumed, a
        # resume, a seek, a rebalance); this is only its backstop timer, which at aiokafka's 200 ms woke
        # every idle (paused) consumer 5 times a second for nothing; 1 s, not more: it also bounds how long a
        # fetcher that missed a wake-up (seen once after a broker restart with 5 s) waits to fetch again
        "consumer_timeout_ms": FETCHER_BACKSTOP_MS,
        **consumer_timeouts(settings),
    }


async def handle_record(
    processor: MessageProcessor, record: ConsumerRecord[bytes, bytes], consumer: AIOKafkaConsumer
) -> None:
    """What every subscriber does with a record: process it (never raises), then commit past it. The commit is
    part of the handling: a consumer paused while it waits (a loaded or restarting broker) would drop the
    records it fetched behind this one."""
    with processor.busy():
        if processor.hold_until is not None:
            await processor.hold_until.wait()
        await processor.process(record)
        await commit_handled(consumer, record, processor.group_id)


async def commit_handled(consumer: AIOKafkaConsumer, record: ConsumerRecord[bytes, bytes], group_id: str) -> None:
    """Commit what was consumed (records are handled one at a time, so that is up to `record`), waiting out
    broker outages. When the group moved on (a rebalance, or a broker that forgot the group) the partition
    is rewound to the record after it, if still ours: nothing is skipped, and a redelivered record is
    handled once (handlers are idempotent)."""
    tp, offset = TopicPartition(record.topic, record.partition), record.offset + 1
    try:
        await retry_while_transient(consumer.commit, f"commit {group_id}")
    except (CommitFailedError, IllegalStateError, KafkaError) as exc:
        log.warning(
            "commit rejected; the record will be redelivered",
            group=group_id,
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
            error=repr(exc),
        )
        with contextlib.suppress(IllegalStateError, AssertionError):
            consumer.seek(tp, offset)


class EventConsumer:
    """A worker's consumer: a FastStream subscriber in the service's group around a MessageProcessor."""

    joins_group = True  # its start waits for the group join: the service starts it at once (runtime/service.py)

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        group_id: str,
        topic_names: list[str],
        handler: Handler,
        publisher: RawSender,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.5,
        parse: Callable[[str, bytes], Envelope[Any]] = parse_event,
    ) -> None:
        self.group_id, self.topic_names = group_id, topic_names
        self.processor = MessageProcessor(group_id, handler, publisher, max_attempts, retry_backoff_s, parse)
        self.broker = KafkaBroker(
            bootstrap,
            security=faststream_security(settings),
            logger=logging.getLogger("bts.kafka"),  # through the root handler: JSON lines like every other
        )
        processor = self.processor
        self._subscriber = self.broker.subscriber(*topic_names, **subscriber_options(settings, group_id))

        @self._subscriber  # type: ignore[misc,untyped-decorator]
        async def consume(message: KafkaMessage) -> None:
            await handle_record(processor, message.raw_message, message.consumer)

    @property
    def stats(self) -> ConsumerStats:
        return self.processor.stats

    @property
    def kafka(self) -> AIOKafkaConsumer | None:
        """The aiokafka consumer underneath, once started (paused while idle: shared.platform.kafka.wakeup)."""
        consumer: AIOKafkaConsumer | None = getattr(self._subscriber, "consumer", None)
        return consumer

    async def start(self) -> None:
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()


def consumer_timeouts(settings: Settings) -> dict[str, int]:
    """Group timeouts that suit Tansu's slow joins and stay valid on Apache Kafka."""
    return {
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "rebalance_timeout_ms": settings.kafka_session_timeout_ms,
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
    }
