"""An idle consumer pauses its partitions and a publisher's NOTIFY resumes it (shared.platform.kafka.wakeup)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from shared.devstack.stack import Endpoints
from shared.platform.db.urls import asyncpg_dsn
from shared.platform.kafka.wakeup import IdleFetchPause, topic_notifier


class FakeKafkaConsumer:
    """The part of AIOKafkaConsumer the pause uses: assignment, pause, resume, paused, and for a look
    end_offsets, highwater and position (every partition read to its end unless `ends` or `fetched_to`
    say otherwise)."""

    def __init__(self, partitions: set[str]) -> None:
        self.partitions, self.paused_now = partitions, set[str]()
        self.ends = dict.fromkeys(partitions, 7)  # what ListOffsets answers
        self.fetched_to: dict[str, int | None] = dict.fromkeys(partitions, 7)  # the last fetch's high watermark
        self.positions = dict.fromkeys(partitions, 7)

    async def end_offsets(self, tps: list[str]) -> dict[str, int]:
        return {tp: self.ends[tp] for tp in tps}

    def highwater(self, tp: str) -> int | None:
        return self.fetched_to[tp]

    async def position(self, tp: str) -> int:
        return self.positions[tp]

    def assignment(self) -> set[str]:
        return set(self.partitions)

    def pause(self, *tps: str) -> None:
        self.paused_now |= set(tps)

    def resume(self, *tps: str) -> None:
        self.paused_now -= set(tps)

    def paused(self) -> set[str]:
        return set(self.paused_now)


@pytest.fixture
async def pool(migrated: Endpoints) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(asyncpg_dsn(migrated.database_url), min_size=0, max_size=4)
    try:
        yield created
    finally:
        await created.close()


async def _until(condition: Callable[[], bool], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_an_idle_consumer_pauses_and_a_notification_on_its_topic_resumes_it(pool: asyncpg.Pool) -> None:
    kafka = FakeKafkaConsumer({"backtest.requested-0", "backtest.requested-1"})
    last = [time.monotonic()]
    # poll_s far beyond the test: a resume can only come from a notification
    pause = IdleFetchPause(pool, ["backtest.requested"], lambda: kafka, lambda: last[0], active_s=0.2, poll_s=3600)
    notify = topic_notifier(pool)
    await pause.start()
    try:
        await _until(lambda: kafka.paused() == kafka.partitions)
        first = pause.pauses
        await notify("backtest.completed")  # another topic's message does not wake it
        await asyncio.sleep(0.5)
        assert kafka.paused() == kafka.partitions
        assert pause.pauses == first  # not resumed and paused again meanwhile
        await notify("backtest.requested")
        await _until(lambda: not kafka.paused())
        pauses = pause.pauses
        last[0] = time.monotonic() + 3600  # a message is being handled: it stays active
        await asyncio.sleep(1.0)
        assert not kafka.paused()
        assert pause.pauses == pauses
    finally:
        await pause.stop()
    assert not kafka.paused()  # a stopped pause leaves nothing paused


async def test_a_paused_consumer_looks_every_poll_s_without_fetching(pool: asyncpg.Pool) -> None:
    """Messages from producers that do not notify still arrive: every poll_s a look (end offsets against the
    consumer's positions, no fetch) resumes the consumer if, and only if, a partition has unread messages."""
    kafka = FakeKafkaConsumer({"ingest.requested-0", "ingest.requested-1"})
    pause = IdleFetchPause(pool, ["ingest.requested"], lambda: kafka, lambda: 0.0, active_s=0.1, poll_s=0.2)
    await pause.start()
    try:
        await _until(lambda: pause.looks >= 3)  # looked three times and found nothing ...
        assert pause.pauses == 1  # ... so it never resumed
        assert kafka.paused() == kafka.partitions
        looks = pause.looks
        kafka.ends["ingest.requested-1"] += 1  # a message nobody announced
        await _until(lambda: pause.pauses >= 2)  # resumed by a look, then paused again once idle
        assert pause.looks > looks
    finally:
        await pause.stop()


async def test_a_look_resumes_a_consumer_that_fetched_more_than_it_handled(pool: asyncpg.Pool) -> None:
    """Tansu's ListOffsets says the last batch's base offset + 1: the rest of a batch that was fetched, then
    dropped by the pause (an event loop that stalled between two records), is seen from the last fetch's high
    watermark."""
    kafka = FakeKafkaConsumer({"backtest.requested-0"})
    kafka.positions["backtest.requested-0"] = 8  # handled the batch's first record (offset 7) ...
    kafka.ends["backtest.requested-0"] = 8  # ... Tansu: batch base 7 + 1
    kafka.fetched_to["backtest.requested-0"] = 10  # the batch held offsets 7, 8 and 9
    pause = IdleFetchPause(pool, ["backtest.requested"], lambda: kafka, lambda: 0.0, active_s=0.1, poll_s=0.2)
    await pause.start()
    try:
        await _until(lambda: pause.pauses >= 2)  # paused, looked, resumed, paused again
    finally:
        await pause.stop()


async def test_a_look_resumes_a_consumer_that_never_fetched(pool: asyncpg.Pool) -> None:
    """No high watermark yet (nothing fetched since the assignment): the look cannot tell, so it fetches."""
    kafka = FakeKafkaConsumer({"backtest.requested-0"})
    kafka.fetched_to["backtest.requested-0"] = None
    pause = IdleFetchPause(pool, ["backtest.requested"], lambda: kafka, lambda: 0.0, active_s=0.1, poll_s=0.2)
    await pause.start()
    try:
        await _until(lambda: pause.pauses >= 2)
    finally:
        await pause.stop()


async def test_a_look_that_fails_resumes_the_consumer(pool: asyncpg.Pool) -> None:
    """A look the broker cannot answer lets the consumer fetch: it finds out by fetching, as before looks."""
    kafka = FakeKafkaConsumer({"ingest.requested-0"})

    async def broker_away(tps: list[str]) -> dict[str, int]:
        raise ConnectionError("broker away")

    kafka.end_offsets = broker_away  # type: ignore[method-assign]
    pause = IdleFetchPause(pool, ["ingest.requested"], lambda: kafka, lambda: 0.0, active_s=0.1, poll_s=0.2)
    await pause.start()
    try:
        await _until(lambda: pause.pauses >= 3)  # paused, looked (failed), resumed, paused again ...
    finally:
        await pause.stop()
