"""Dead letters: what could not be handled, with the error, so an operator can look and replay.

A replay puts dead letters back on their original topic, each addressed (header `bts-replay-for`) to the
consumer group that gave up on it: the topic's other groups skip it. It remembers how far it got as the
committed offset of the consumer group `bts-dlq-replay` on `<topic>.dlq` (committed after each letter the
broker acknowledged): the next replay starts after it, so no letter is ever sent twice, and any Kafka tool
sees the replay position (its "lag" on the DLQ is what was never replayed). Replays of one topic must not run
concurrently (the gateway holds a database advisory lock around them). On Apache Kafka the position must
outlive the letters: offsets.retention.minutes above the DLQ topics' retention (docker-compose.yml sets it).
Should it ever be lost, a letter sent again is still handled once: every consumer is idempotent.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import BaseModel, Field, ValidationError, computed_field

from shared.contracts import topics
from shared.platform.kafka.lag import high_watermarks
from shared.platform.kafka.producer import EventPublisher
from shared.platform.kafka.security import client_options

# A dead letter must itself fit in a Kafka message (1 MiB by default) once base64-encoded: a bigger
# original (e.g. one rejected for its size) is kept only as a prefix, with its size.
KEEP_WHOLE_BYTES = 512 * 1024
TRUNCATED_PREFIX_BYTES = 64 * 1024

REPLAY_GROUP = "bts-dlq-replay"
REPLAY_FOR_HEADER = "bts-replay-for"  # the consumer group a replayed letter is meant for (the one that failed it)
IDLE_POLLS = 10  # give up after this many empty half-second polls (a broker that stopped answering)


class DeadLetter(BaseModel):
    topic: str
    partition: int
    offset: int
    key: str | None
    value_b64: str = Field(description="the original message, base64 (only its start when `truncated`)")
    value_bytes: int = Field(default=0, description="size of the original message")
    truncated: bool = Field(default=False, description="the original was too big to keep whole; not replayable")
    error: str
    consumer_group: str
    attempts: int
    failed_at: datetime

    @classmethod
    def of(cls, record: Any, *, error: str, group: str, attempts: int) -> DeadLetter:
        value: bytes = record.value or b""
        truncated = len(value) > KEEP_WHOLE_BYTES
        kept = value[:TRUNCATED_PREFIX_BYTES] if truncated else value
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None,
            value_b64=base64.b64encode(kept).decode(),
            value_bytes=len(value),
            truncated=truncated,
            error=error[:4000],
            consumer_group=group,
            attempts=attempts,
            failed_at=datetime.now(UTC),
        )

    @property
    def value(self) -> bytes:
        return base64.b64decode(self.value_b64)


class ListedLetter(DeadLetter):
    """A dead letter as it sits on `<topic>.dlq`: where, and whether a replay already sent it back."""

    dlq_partition: int
    dlq_offset: int
    replayed: bool


class DlqListing(BaseModel):
    topic: str
    dlq_topic: str
    total: int = Field(description="dead letters on the DLQ")
    pending: int = Field(description="dead letters no replay has sent back yet")
    letters: list[ListedLetter]


class ReplayedLetter(BaseModel):
    dlq_partition: int
    dlq_offset: int
    partition: int = Field(description="partition of the original message")
    offset: int = Field(description="offset of the original message")
    key: str | None


class SkippedLetter(BaseModel):
    dlq_partition: int
    dlq_offset: int
    reason: str


class ReplayOutcome(BaseModel):
    topic: str
    replayed: list[ReplayedLetter]
    skipped: list[SkippedLetter] = Field(default_factory=list, description="DLQ records that are no dead letter")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def count(self) -> int:
        """how many letters this replay sent"""
        return len(self.replayed)


class _Dlq:
    """A consumer of `<topic>.dlq` under the replay group: committed (replayed up to) and end offsets."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic, self.name = bootstrap, topic, topics.dlq(topic)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=REPLAY_GROUP,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            request_timeout_ms=15_000,
            **client_options(),
        )
        self.tps: list[TopicPartition] = []
        self.starts: dict[TopicPartition, int] = {}
        self.replayed_up_to: dict[TopicPartition, int] = {}
        self.ends: dict[TopicPartition, int] = {}

    async def open(self) -> None:
        await self.consumer.start()
        partitions = self.consumer.partitions_for_topic(self.name)
        if not partitions:
            await self.consumer._client.force_metadata_update()
            partitions = self.consumer.partitions_for_topic(self.name) or set()
        self.tps = [TopicPartition(self.name, p) for p in sorted(partitions)]
        if not self.tps:
            return
        self.consumer.assign(self.tps)
        # Where each partition starts now (the broker's retention may have deleted the oldest letters).
        self.starts = {tp: int(offset) for tp, offset in (await self.consumer.beginning_offsets(self.tps)).items()}
        for tp in self.tps:
            self.replayed_up_to[tp] = max(await self.consumer.committed(tp) or 0, self.starts[tp])
        self.ends = await high_watermarks(self.bootstrap, self.tps, {})

    async def close(self) -> None:
        await self.consumer.stop()

    async def records(
        self, start: dict[TopicPartition, int], limit: int | None = None
    ) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
        """Records from `start` up to the end offsets seen when opened (letters added later wait for next time)."""
        begin = {tp: max(start.get(tp, 0), self.starts.get(tp, 0)) for tp in self.tps}
        wanted = {tp: self.ends.get(tp, 0) for tp in self.tps if begin[tp] < self.ends.get(tp, 0)}
        for tp in wanted:
            self.consumer.seek(tp, begin[tp])
        sent, idle = 0, 0
        while wanted and idle < IDLE_POLLS:
            batch = await self.consumer.getmany(*wanted, timeout_ms=500, max_records=100)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= wanted.get(tp, 0):
                        break
                    if limit is not None and sent >= limit:
                        return
                    sent += 1
                    yield record
                if await self.consumer.position(tp) >= wanted.get(tp, 0):
                    del wanted[tp]

    async def mark_replayed(self, tp: TopicPartition, offset: int) -> None:
        await self.consumer.commit({tp: offset + 1})


def _letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    return DeadLetter.model_validate_json(record.value or b"")


async def list_dlq(bootstrap: str, topic: str, limit: int = 100, pending_only: bool = False) -> DlqListing:
    """The dead letters of `topic` (from the start of `<topic>.dlq`, or from the replay position)."""
    dlq = _Dlq(bootstrap, topic)
    await dlq.open()
    try:
        start = dlq.replayed_up_to if pending_only else {}
        letters: list[ListedLetter] = []
        async for record in dlq.records(start, limit):
            tp = TopicPartition(record.topic, record.partition)
            try:
                letter = _letter(record)
            except ValidationError as exc:
                letter = DeadLetter(
                    topic=topic,
                    partition=-1,
                    offset=-1,
                    key=None,
                    value_b64="",
                    consumer_group="?",
                    attempts=0,
                    failed_at=datetime.fromtimestamp(record.timestamp / 1000, UTC),
                    error=f"not a dead-letter record: {exc.errors()[0]['msg']}",
                )
            letters.append(
                ListedLetter(
                    **letter.model_dump(),
                    dlq_partition=record.partition,
                    dlq_offset=record.offset,
                    replayed=record.offset < dlq.replayed_up_to.get(tp, 0),
                )
            )
        total = sum(max(dlq.ends.get(tp, 0) - dlq.starts.get(tp, 0), 0) for tp in dlq.tps)
        pending = sum(max(dlq.ends.get(tp, 0) - dlq.replayed_up_to.get(tp, 0), 0) for tp in dlq.tps)
        return DlqListing(topic=topic, dlq_topic=dlq.name, total=total, pending=pending, letters=letters)
    finally:
        await dlq.close()


async def read_dlq(bootstrap: str, topic: str, limit: int = 100) -> list[ListedLetter]:
    """Every dead letter of `topic`, from the start of `<topic>.dlq`, replayed or not."""
    return (await list_dlq(bootstrap, topic, limit)).letters


async def replay(bootstrap: str, topic: str, limit: int | None = None) -> ReplayOutcome:
    """Put the dead letters no replay has sent yet back on `topic` (after the cause was fixed), each with
    its original key. Each letter is marked replayed as soon as the broker acknowledged it."""
    dlq = _Dlq(bootstrap, topic)
    await dlq.open()
    outcome = ReplayOutcome(topic=topic, replayed=[])
    try:
        async with EventPublisher(bootstrap) as publisher:
            async for record in dlq.records(dlq.replayed_up_to, limit):
                tp = TopicPartition(record.topic, record.partition)
                try:
                    letter = _letter(record)
                    if letter.topic != topic:
                        raise ValueError(f"the letter names topic {letter.topic!r}, not {topic!r}")
                    if letter.truncated:  # a prefix is not the message
                        raise ValueError(f"only the first {len(letter.value)} of {letter.value_bytes} bytes were kept")
                except ValueError as exc:  # pydantic's ValidationError is one
                    outcome.skipped.append(
                        SkippedLetter(
                            dlq_partition=record.partition,
                            dlq_offset=record.offset,
                            reason=str(exc).splitlines()[0][:300],
                        )
                    )
                else:
                    origin = f"{dlq.name}:{record.partition}:{record.offset}".encode()
                    headers = [("replayed_from", origin), (REPLAY_FOR_HEADER, letter.consumer_group.encode())]
                    await publisher.send_raw(topic, letter.value, letter.key, headers)
                    outcome.replayed.append(
                        ReplayedLetter(
                            dlq_partition=record.partition,
                            dlq_offset=record.offset,
                            partition=letter.partition,
                            offset=letter.offset,
                            key=letter.key,
                        )
                    )
                await dlq.mark_replayed(tp, record.offset)
        return outcome
    finally:
        await dlq.close()
