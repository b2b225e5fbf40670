"""Dead letters: what could not be handled, with the error, so an operator can look and replay."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, Field

from shared import topics
from shared.kafka.producer import EventPublisher

# A dead letter must itself fit in a Kafka message (1 MiB by default) once base64-encoded: a bigger
# original (e.g. one rejected for its size) is kept only as a prefix, with its size.
KEEP_WHOLE_BYTES = 512 * 1024
TRUNCATED_PREFIX_BYTES = 64 * 1024


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
            topic=record.topic, partition=record.partition, offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None,
            value_b64=base64.b64encode(kept).decode(), value_bytes=len(value), truncated=truncated,
            error=error[:4000], consumer_group=group, attempts=attempts, failed_at=datetime.now(UTC),
        )  # fmt: skip

    @property
    def value(self) -> bytes:
        return base64.b64decode(self.value_b64)


async def read_dlq(bootstrap: str, topic: str, limit: int = 100) -> list[DeadLetter]:
    """Every dead letter of `topic` (from the start of `<topic>.dlq`), without joining a group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topics.dlq(topic)) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topics.dlq(topic)) or set()
        tps = [TopicPartition(topics.dlq(topic), p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        letters: list[DeadLetter] = []
        empty_polls = 0
        while len(letters) < limit and empty_polls < 3:
            batch = await consumer.getmany(timeout_ms=300, max_records=limit)
            records = [r for rs in batch.values() for r in rs]
            empty_polls = 0 if records else empty_polls + 1
            letters += [DeadLetter.model_validate_json(r.value) for r in records if r.value]
        return letters[:limit]
    finally:
        await consumer.stop()


async def replay(bootstrap: str, topic: str, limit: int = 100) -> int:
    """Put dead letters back on their original topic (after the cause was fixed)."""
    letters = await read_dlq(bootstrap, topic, limit)
    async with EventPublisher(bootstrap) as publisher:
        replayable = [letter for letter in letters if not letter.truncated]  # a prefix is not the message
        for letter in replayable:
            await publisher.send_raw(letter.topic, letter.value, letter.key)
    return len(replayable)
