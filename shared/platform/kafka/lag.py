"""Consumer lag per group, topic and partition: committed offset, end offset, lag and the members.

End offsets come from the high watermark of a Fetch, not from ListOffsets: Tansu answers
ListOffsets(latest) with the last batch's base offset + 1 (too small after batched produces), while the
fetch high watermark is right there and on Apache Kafka alike.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import BaseModel, Field

from shared.contracts import topics
from shared.platform.db.ownership import SERVICE_NAMES
from shared.platform.kafka.security import client_options

SERVICE_GROUPS = frozenset(f"bts-{name}" for name in SERVICE_NAMES)  # one consumer group per service


class PartitionLag(BaseModel):
    group: str
    topic: str
    partition: int
    committed: int | None = Field(description="next offset the group will read; null if it never committed")
    end_offset: int | None = Field(description="high watermark: offset of the next message to be written")
    lag: int | None = Field(description="end_offset - committed (a group that never committed lags by end_offset)")
    members: list[str] = Field(default_factory=list, description="client ids of the group's members")


async def high_watermarks(
    bootstrap: str, tps: list[TopicPartition], start: dict[TopicPartition, int], timeout_s: float = 5.0
) -> dict[TopicPartition, int]:
    """One small fetch per partition (from `start`, e.g. the committed offset) to learn its high watermark."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        max_partition_fetch_bytes=1024,
        request_timeout_ms=10_000,
        **client_options(),
    )
    await consumer.start()
    found: dict[TopicPartition, int] = {}
    try:
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, max(start.get(tp, 0), 0))
        deadline = time.monotonic() + timeout_s
        while len(found) < len(tps) and time.monotonic() < deadline:
            await consumer.getmany(timeout_ms=100, max_records=1)
            for tp in tps:
                value = consumer.highwater(tp)
                if value is not None:
                    found[tp] = int(value)
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return found


async def _members(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, list[str]]:
    """Client ids per group; best effort (Tansu cannot describe a group that has no committed offsets)."""
    members: dict[str, list[str]] = {}
    for name in names:
        try:
            responses = await admin.describe_consumer_groups([name])
        except Exception:
            continue
        for response in responses:
            for group in response.groups:  # (error, group_id, state, protocol_type, protocol, members, ...)
                # (member_id, client_id, host, ...)
                members[str(group[1])] = sorted(f"{m[1] or m[0]}@{m[2]}" for m in group[5])
    return members


async def consumer_lag(
    bootstrap: str, groups: Iterable[str] | None = None, topic_names: Iterable[str] = topics.ALL_TOPICS
) -> list[PartitionLag]:
    """Lag of every (group, topic, partition) the group has committed on, for the platform's topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **client_options())
    await admin.start()
    try:
        listed = {str(g[0]) for g in await admin.list_consumer_groups()}
        names = sorted(set(groups) if groups is not None else listed | SERVICE_GROUPS)
        existing = set(await admin.list_topics())
        tps = [TopicPartition(t, p) for t in topic_names if t in existing for p in range(topics.PARTITIONS.get(t, 6))]
        members = await _members(admin, [n for n in names if n in listed])
        committed: dict[str, dict[TopicPartition, int]] = {}
        for name in names:
            # always pass partitions=: Tansu cannot answer the all-partitions form
            offsets = await admin.list_consumer_group_offsets(name, partitions=tps)
            committed[name] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    finally:
        await admin.close()
    # a group "reads" a topic once it committed on any of its partitions; its other partitions lag from 0
    read = {name: {tp.topic for tp in offsets} for name, offsets in committed.items()}
    wanted = sorted(
        {tp for tp in tps if any(tp.topic in topics_read for topics_read in read.values())},
        key=lambda tp: (tp.topic, tp.partition),
    )
    ends = await high_watermarks(bootstrap, wanted, {}) if wanted else {}
    rows = []
    for name in names:
        for tp in (tp for tp in wanted if tp.topic in read[name]):
            end, offset = ends.get(tp), committed[name].get(tp)
            lag = None if end is None else max(end - (offset or 0), 0)
            rows.append(
                PartitionLag(
                    group=name,
                    topic=tp.topic,
                    partition=tp.partition,
                    committed=offset,
                    end_offset=end,
                    lag=lag,
                    members=members.get(name, []),
                )
            )
    return rows
