"""Topic administration: every topic with its partitions and its dead-letter twin."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts import topics
from shared.platform.kafka.security import client_options


async def ensure_topics(bootstrap: str, names: Iterable[str] = topics.ALL_TOPICS) -> None:
    """Create missing topics (and `<topic>.dlq`); existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted: list[NewTopic] = []
        for name in names:
            if name not in existing:
                wanted.append(NewTopic(name, topics.PARTITIONS.get(name, 6), replication_factor=1))
            if topics.dlq(name) not in existing:
                wanted.append(NewTopic(topics.dlq(name), topics.DLQ_PARTITIONS, replication_factor=1))
        for topic in wanted:  # one by one: a concurrent creator makes "already exists" harmless
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([topic])
    finally:
        await admin.close()
