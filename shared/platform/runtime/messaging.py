"""The messaging components a service runs: publisher, outbox relay, and its consumers, with metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from shared.contracts.events import Envelope, parse_event
from shared.platform.kafka.consumer import EventConsumer, GiveUp, MessageProcessor
from shared.platform.kafka.outbox import OutboxRelay
from shared.platform.kafka.producer import EventPublisher
from shared.platform.kafka.wakeup import IdleFetchPause, topic_notifier
from shared.platform.runtime.metrics import (
    HANDLER_SECONDS,
    MESSAGES_CONSUMED,
    MESSAGES_FAILED,
    OUTBOX_BACKLOG,
    OUTBOX_PARKED,
    OUTBOX_PARKED_TOTAL,
)
from shared.platform.runtime.service import Component, ServiceContext
from shared.platform.runtime.tasks import cancel


def consumer(
    ctx: ServiceContext,
    publisher: EventPublisher,
    topic_names: list[str],
    handler: Callable[[Envelope[Any]], Awaitable[None]],
    parse: Callable[[str, bytes], Envelope[Any]] = parse_event,
    on_give_up: dict[str, GiveUp] | None = None,
    group: str | None = None,
) -> EventConsumer:
    """A consumer in the service's group (one group per service: replicas share the work), or in `group`;
    `on_give_up` ends the job of a message it gives up on, per topic."""
    group = group or f"bts-{ctx.name}"
    instance = EventConsumer(ctx.settings, ctx.kafka_bootstrap, group, topic_names, handler, publisher, parse=parse)
    instance.processor.on_give_up.update(on_give_up or {})
    in_service(ctx, instance.processor)
    return instance


def in_service(ctx: ServiceContext, processor: MessageProcessor) -> MessageProcessor:
    """A processor as the service runs it: what it fetched waits until every component has started (its
    consumer joins before the rest starts: shared/platform/runtime/service.py), and its counts and handler
    latencies are exported as Prometheus metrics."""
    processor.hold_until = ctx.started
    service = ctx.name

    def observe(topic: str, outcome: str, seconds: float) -> None:
        MESSAGES_CONSUMED.labels(service, topic).inc()
        HANDLER_SECONDS.labels(service, topic, outcome).observe(seconds)

    processor.stats.observe = observe
    processor.on_dead_letter = lambda topic: MESSAGES_FAILED.labels(service, topic).inc()
    return processor


class BacklogGauge:
    """Samples the outbox backlog and parked rows into gauges every 15 s (a usual Prometheus scrape interval)."""

    def __init__(self, service: str, relay: OutboxRelay, every_s: float = 15.0) -> None:
        self.service, self.relay, self.every_s = service, relay, every_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                OUTBOX_BACKLOG.labels(self.service).set(await self.relay.backlog())
                OUTBOX_PARKED.labels(self.service).set(await self.relay.parked_rows())
            await asyncio.sleep(self.every_s)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None


def idle_pause(
    ctx: ServiceContext, topic_names: list[str], kafka_consumer: Callable[[], Any], processor: MessageProcessor
) -> IdleFetchPause:
    """A consumer's pause while idle, woken by the publishers' notifications (see shared.platform.kafka.wakeup)."""
    return IdleFetchPause(
        ctx.pool,
        topic_names,
        kafka_consumer,
        lambda: processor.last_activity,
        active_s=ctx.settings.kafka_idle_after_s,
        poll_s=ctx.settings.kafka_idle_poll_s,
    )


def _kafka_of(consumer: EventConsumer) -> Callable[[], Any]:
    return lambda: consumer.kafka


def messaging(ctx: ServiceContext, publisher: EventPublisher, consumers: list[EventConsumer]) -> list[Component]:
    """Start order: publisher, outbox relay, backlog gauge, the consumers, their idle pauses (stopped in reverse).
    The consumers join their groups at once, all together (shared/platform/runtime/service.py): a join waits
    seconds on Tansu, so a service of two groups joined in turn would wait twice. Every message the publisher
    sends wakes the consumers of its topic."""
    publisher.on_sent = topic_notifier(ctx.pool)
    relay = OutboxRelay(ctx.pool, ctx.name, publisher)
    relay.on_parked = OUTBOX_PARKED_TOTAL.labels(ctx.name).inc
    pauses = [idle_pause(ctx, c.topic_names, _kafka_of(c), c.processor) for c in consumers]
    return [publisher, relay, BacklogGauge(ctx.name, relay), *consumers, *pauses]
