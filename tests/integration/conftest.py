"""Shared by the tests that need a whole running stack: start `bts up`, publish and read events.

`running_stack` is one stack per test session (per xdist worker), shared by every module that asks for it:
each module works under names of its own (users, instruments, strategies), reads back only what it made,
and never writes the default benchmark, which the fixture loads once. Modules that need a
stack with other settings start their own with `started_stack`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bts.stackfile import StackFile
from shared.contracts import topics
from shared.contracts.events import parse_event
from shared.domain.benchmark import DEFAULT_BENCHMARK
from tests.integration.market import load_daily_symbols
from tests.integration.stack import started_stack


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFile]:
    with started_stack(tmp_path_factory.mktemp("shared-stack")) as stack:
        # The default benchmark, SPY.NASDAQ with daily bars of 2020-2021 and no owner: the one listing of SPY
        # with bars in that period, so every module's backtests there resolve it alike. No module writes it.
        folder = tmp_path_factory.mktemp("shared-benchmark")
        asyncio.run(load_daily_symbols(stack.database_url, folder, (DEFAULT_BENCHMARK,)))
        yield stack


async def publish(bootstrap: str, events: list[tuple[Any, str]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)  # any producer: this one is an "outside" tool
    await producer.start()
    try:
        for event, key in events:
            await producer.send_and_wait(event.type, event.model_dump_json().encode(), key=key.encode())
    finally:
        await producer.stop()


async def wait_for_events(bootstrap: str, topic: str, subjects: set[str], within: float = 120) -> list[Any]:
    """Read `topic` from the start (no group: no join delay) until every subject has an event."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    found: dict[str, Any] = {}
    try:
        tps = [TopicPartition(topic, p) for p in range(topics.PARTITIONS[topic])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + within
        while set(found) < subjects:
            assert time.monotonic() < deadline, f"no {topic} for {subjects - set(found)}"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = parse_event(topic, record.value or b"")
                    if event.subject in subjects:
                        found[event.subject] = event
    finally:
        await consumer.stop()
    return list(found.values())
