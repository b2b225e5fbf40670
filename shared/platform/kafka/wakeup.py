"""Idle consumers do not poll the broker: they pause while nothing happens and wake on a PostgreSQL NOTIFY.

Tansu answers a Fetch only after the consumer's whole fetch_max_wait_ms (see docs/architecture.md), so a
consumer that keeps fetching costs the broker and itself CPU all the time, and a shorter wait (lower
latency) costs more. Instead, every publisher of the platform sends `pg_notify('bts_topic:<topic>')` once
the broker has acknowledged a message (`notify_published`), and each consumer's `IdleFetchPause`:

- leaves the consumer fetching as usual while messages flow, while one is being handled (a pause would drop
  the messages fetched behind it), and for `active_s` after the last one (settings.kafka_idle_after_s,
  short, so that most hops find the consumer paused and are woken at once rather than landing during a
  Fetch that Tansu holds for fetch_max_wait_ms);
- then pauses all its partitions (aiokafka sends no Fetch for paused partitions; group heartbeats go on)
  and waits for a notification on one of its topics' channels;
- resumes at once when one comes (a Fetch for data already there is answered at once: a hop costs a
  NOTIFY and one round trip), and stays resumed until a message was handled (or poll_s passed);
- and every `poll_s` takes a look without fetching: one ListOffsets request (and the high watermark of the
  last fetch) says whether a partition's log goes past the consumer's position (a Fetch would be held by
  Tansu for fetch_max_wait_ms, and a look by fetching took two or three of them). If one does, or the look
  fails, or the assignment changed, it resumes: messages from producers that do not notify (another
  platform's, a DLQ replay, a lost LISTEN connection) still arrive, at most `poll_s` late.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer

from shared.platform.db.listeners import listener_alive
from shared.platform.runtime.tasks import cancel

log = structlog.get_logger()


def wake_channel(topic: str) -> str:
    """The LISTEN/NOTIFY channel that says a message was published to `topic`."""
    return f"bts_topic:{topic}"


def topic_notifier(pool: asyncpg.Pool) -> Callable[[str], Awaitable[None]]:
    """`notify(topic)`: tell the consumers of `topic` that a message is there. Best effort: a database
    that is away only delays the consumers until their next look (see IdleFetchPause)."""

    async def notify(topic: str) -> None:
        try:
            async with pool.acquire() as conn:
                await conn.execute("SELECT pg_notify($1, '')", wake_channel(topic))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.debug("topic notification not sent", topic=topic, error=repr(exc))

    return notify


class IdleFetchPause:
    """Pauses a consumer's fetching while it is idle; a notification on one of `topic_names` wakes it.

    `kafka_consumer` returns the aiokafka consumer (None until it exists, e.g. a FastStream subscriber not
    started yet); `last_activity` returns the monotonic time of the last message handled, or now while one is
    being handled (a pause then would drop the messages fetched behind it: nobody announces them again)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        topic_names: Iterable[str],
        kafka_consumer: Callable[[], AIOKafkaConsumer | None],
        last_activity: Callable[[], float],
        active_s: float,
        poll_s: float,
    ) -> None:
        self.pool, self.channels = pool, [wake_channel(t) for t in topic_names]
        self.kafka_consumer, self.last_activity = kafka_consumer, last_activity
        self.active_s, self.poll_s = active_s, poll_s
        self._wake = asyncio.Event()
        self._listener: Any = None
        self._task: asyncio.Task[None] | None = None
        self.pauses = 0  # how often it paused (for tests and benchmarks)
        self.looks = 0  # how often a paused consumer looked for messages nobody notified (likewise)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def start(self) -> None:
        await self._listen()
        self._task = asyncio.create_task(self._run(), name="idle-fetch-pause")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        self._resume(self._paused())
        await self._unlisten()

    async def _listen(self) -> None:
        try:
            conn = await self.pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot listen for topic notifications; consumers poll", error=repr(exc))
            return
        try:
            for channel in self.channels:
                await conn.add_listener(channel, self._on_notify)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot listen for topic notifications; consumers poll", error=repr(exc))
            with contextlib.suppress(Exception):
                await self.pool.release(conn)
            return
        self._listener = conn

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            for channel in self.channels:
                await conn.remove_listener(channel, self._on_notify)
        with contextlib.suppress(Exception):
            await self.pool.release(conn)

    async def _run(self) -> None:
        while True:  # this loop must outlive anything (a dead listener, a database away): else consumers stall
            try:
                await self._pause_while_idle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("idle pause failed; consumers fetch meanwhile", error=repr(exc))
                self._resume(self._paused())
                await asyncio.sleep(self.poll_s)

    async def _pause_while_idle(self) -> None:
        while True:
            # Cleared before the active period: a notification from now on is seen below, never lost.
            self._wake.clear()
            await asyncio.sleep(self.active_s)
            if self._wake.is_set() or time.monotonic() - self.last_activity() < self.active_s:
                continue
            if not listener_alive(self._listener):  # the database restarted: listen again
                await self._unlisten()
                await self._listen()
            paused = self._pause()
            try:
                await self._until_woken(paused)
            finally:
                self._resume(paused)
            await self._until_handled_since(time.monotonic())

    async def _until_handled_since(self, woken_at: float) -> None:
        """Stay resumed until a message was handled after `woken_at`, or for poll_s at most: a fetcher that is
        still reconnecting (a broker restart) may need longer than active_s to send its Fetch, and pausing it
        again before then left the message unread until a later look happened to find the fetcher ready."""
        for _ in range(math.ceil(self.poll_s / self.active_s)):  # a look every active_s, as while active
            if self.last_activity() >= woken_at:
                return
            await asyncio.sleep(self.active_s)

    async def _until_woken(self, paused: list[Any]) -> None:
        """Until a notification comes, or a look every poll_s finds something to fetch."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                return
            self.looks += 1
            if await self._worth_fetching(paused):
                return

    async def _worth_fetching(self, paused: list[Any]) -> bool:
        """A look without fetching: is a paused partition's log past the consumer's position? Also yes when the
        assignment changed (pause the new one: e.g. the consumer had none yet) or the look fails or takes
        long: then fetching finds out."""
        consumer = self.kafka_consumer()
        if consumer is None or not paused or set(consumer.assignment()) != set(paused):
            return True

        async def behind() -> bool:
            ends = await consumer.end_offsets(paused)  # one ListOffsets request per broker, answered at once
            for tp in paused:
                # Tansu answers ListOffsets with the last batch's base offset + 1 (see lag.py): enough to see a
                # batch written since the last fetch, not the rest of a batch fetched and dropped by the pause
                # (an event loop that stalled past active_s between two records); the last fetch's high watermark
                # shows those.
                fetched_to = consumer.highwater(tp)
                if fetched_to is None or max(ends.get(tp, 0), fetched_to) > await consumer.position(tp):
                    return True
            return False

        try:
            return await asyncio.wait_for(behind(), timeout=self.poll_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("look for unannounced messages failed; fetching instead", error=repr(exc))
            return True

    def _paused(self) -> list[Any]:
        consumer = self.kafka_consumer()
        return list(consumer.paused()) if consumer is not None else []

    def _pause(self) -> list[Any]:
        consumer = self.kafka_consumer()
        if consumer is None:
            return []
        assigned = list(consumer.assignment())
        if assigned:
            consumer.pause(*assigned)
            self.pauses += 1
        return assigned

    def _resume(self, partitions: list[Any]) -> None:
        consumer = self.kafka_consumer()
        if consumer is None or not partitions:
            return
        with contextlib.suppress(Exception):  # partitions revoked meanwhile are no longer ours to resume
            consumer.resume(*[tp for tp in partitions if tp in consumer.assignment()])
