"""The messaging components a service runs: publisher, outbox relay, and its consumers, with metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from shared.events import Envelope, parse_event
from shared.kafka.consumer import EventConsumer, GiveUp, MessageProcessor
from shared.kafka.outbox import OutboxRelay
from shared.kafka.producer import EventPublisher
from shared.runtime.metrics import (
    HANDLER_SECONDS,
    MESSAGES_CONSUMED,
    MESSAGES_FAILED,
    OUTBOX_BACKLOG,
    OUTBOX_PARKED,
    OUTBOX_PARKED_TOTAL,
)
from shared.runtime.service import Component, ServiceContext
from shared.runtime.tasks import cancel


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
    observed(ctx.name, instance.processor)
    return instance


def observed(service: str, processor: MessageProcessor) -> MessageProcessor:
    """Export a processor's counts and handler latencies as Prometheus metrics."""

    def observe(topic: str, outcome: str, seconds: float) -> None:
        MESSAGES_CONSUMED.labels(service, topic).inc()
        HANDLER_SECONDS.labels(service, topic, outcome).observe(seconds)

    processor.stats.observe = observe
    processor.on_dead_letter = lambda topic: MESSAGES_FAILED.labels(service, topic).inc()
    return processor


class BacklogGauge:
    """Samples the outbox backlog and parked rows into gauges every few seconds."""

    def __init__(self, service: str, relay: OutboxRelay, every_s: float = 5.0) -> None:
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


def messaging(ctx: ServiceContext, publisher: EventPublisher, consumers: list[EventConsumer]) -> list[Component]:
    """Start order: publisher, outbox relay, backlog gauge, consumers (stopped in reverse)."""
    relay = OutboxRelay(ctx.pool, ctx.name, publisher)
    relay.on_parked = OUTBOX_PARKED_TOTAL.labels(ctx.name).inc
    return [publisher, relay, BacklogGauge(ctx.name, relay), *consumers]
