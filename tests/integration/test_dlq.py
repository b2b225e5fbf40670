"""Dead letters on the real broker: a message whose handling keeps failing is dead-lettered and listed with
its error; after the cause is fixed a replay puts it back and it is handled; a replay never sends a letter
twice, and a record on the DLQ that is no dead letter is listed and skipped, not fatal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from shared.contracts import topics
from shared.contracts.events import BarsLoaded, Envelope, make_event, parse_event
from shared.contracts.models import Timeframe
from shared.devstack.stack import Endpoints
from shared.platform.kafka.admin import ensure_topics
from shared.platform.kafka.consumer import EventConsumer
from shared.platform.kafka.dlq import list_dlq, replay
from shared.platform.kafka.producer import EventPublisher
from shared.platform.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(180)]


def _event(instrument: str) -> Envelope[BarsLoaded]:
    now = datetime.now(UTC)
    data = BarsLoaded(instrument_id=instrument, timeframe=Timeframe.BAR_DAILY, first=now, last=now, rows=1)
    return make_event(topics.BARS_LOADED, data, source="bts/test", subject=instrument)


async def _wait_for(predicate: Callable[[], bool], within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


class Registry:
    """The handler's dependency: it fails for instruments it does not know yet (the cause an operator fixes)."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.handled: list[str] = []

    async def handle(self, envelope: Envelope[Any]) -> None:
        instrument = envelope.data.instrument_id
        if instrument not in self.known:
            raise LookupError(f"unknown instrument {instrument}")
        self.handled.append(instrument)


class Bystander:
    """Another consumer group of the same topic, which handles everything the first time."""

    def __init__(self) -> None:
        self.seen: list[uuid.UUID] = []

    async def handle(self, envelope: Envelope[Any]) -> None:
        self.seen.append(envelope.id)


Setup = tuple[str, Registry, Bystander, EventConsumer, EventPublisher]


@pytest_asyncio.fixture(loop_scope="module")
async def setup(endpoints: Endpoints) -> AsyncIterator[Setup]:
    topic = f"test.{uuid.uuid4().hex[:8]}"
    await ensure_topics(endpoints.kafka_bootstrap, [topic])
    registry, bystander = Registry(), Bystander()
    async with EventPublisher(endpoints.kafka_bootstrap) as publisher:
        consumers = [
            EventConsumer(
                Settings(),
                endpoints.kafka_bootstrap,
                f"g-{uuid.uuid4().hex[:8]}",
                [topic],
                handler,
                publisher,
                retry_backoff_s=0.01,
                parse=lambda _t, raw: parse_event(topics.BARS_LOADED, raw),
            )
            for handler in (registry.handle, bystander.handle)
        ]
        for consumer in consumers:
            await consumer.start()
        try:
            yield topic, registry, bystander, consumers[0], publisher
        finally:
            for consumer in consumers:
                await consumer.stop()


async def test_dead_letter_list_fix_replay_handled_and_never_twice(endpoints: Endpoints, setup: Setup) -> None:
    topic, registry, bystander, consumer, publisher = setup
    bootstrap = endpoints.kafka_bootstrap
    first = _event("FIXME.NASDAQ")
    await publisher.send_raw(topic, first.model_dump_json().encode(), "FIXME.NASDAQ")
    await _wait_for(lambda: consumer.stats.dead_lettered.get(topic) == 1)

    listing = await list_dlq(bootstrap, topic)
    assert (listing.total, listing.pending, listing.dlq_topic) == (1, 1, f"{topic}.dlq")
    [letter] = listing.letters
    assert letter.key == "FIXME.NASDAQ"
    assert letter.consumer_group == consumer.group_id
    assert letter.attempts == 3
    assert "LookupError('unknown instrument FIXME.NASDAQ')" in letter.error
    assert (letter.dlq_offset, letter.replayed) == (0, False)
    assert parse_event(topics.BARS_LOADED, letter.value).id == first.id  # the original message, intact

    registry.known.add("FIXME.NASDAQ")  # the fix
    outcome = await replay(bootstrap, topic)
    assert outcome.count == 1
    assert (outcome.replayed[0].dlq_offset, outcome.replayed[0].key) == (0, "FIXME.NASDAQ")
    await _wait_for(lambda: registry.handled == ["FIXME.NASDAQ"])

    # the replay was for the group that failed: the other group (same partition, by key) never sees it again
    sentinel = _event("FIXME.NASDAQ")
    await publisher.send_raw(topic, sentinel.model_dump_json().encode(), "FIXME.NASDAQ")
    await _wait_for(lambda: sentinel.id in bystander.seen)
    assert bystander.seen.count(first.id) == 1
    await _wait_for(lambda: registry.handled == ["FIXME.NASDAQ", "FIXME.NASDAQ"])

    assert (await replay(bootstrap, topic)).count == 0  # nothing is sent twice
    listing = await list_dlq(bootstrap, topic)
    assert (listing.total, listing.pending, [x.replayed for x in listing.letters]) == (1, 0, [True])

    # A later failure is the only one the next replay sends; junk on the DLQ is skipped, not fatal.
    await publisher.send_raw(topic, _event("LATER.NASDAQ").model_dump_json().encode(), "LATER.NASDAQ")
    await _wait_for(lambda: consumer.stats.dead_lettered.get(topic) == 2)
    await publisher.send_raw(topics.dlq(topic), b"not a dead letter", None)
    pending = await list_dlq(bootstrap, topic, pending_only=True)
    assert [(x.dlq_offset, x.key) for x in pending.letters] == [(1, "LATER.NASDAQ"), (2, None)]
    assert pending.letters[1].error.startswith("not a dead-letter record")
    registry.known.add("LATER.NASDAQ")
    outcome = await replay(bootstrap, topic)
    assert [x.dlq_offset for x in outcome.replayed] == [1]
    assert [x.dlq_offset for x in outcome.skipped] == [2]
    await _wait_for(lambda: registry.handled[-1] == "LATER.NASDAQ")
    assert (await replay(bootstrap, topic)).count == 0
    assert registry.handled == ["FIXME.NASDAQ", "FIXME.NASDAQ", "LATER.NASDAQ"]
