"""Publishing envelopes. acks=all, no idempotence: Tansu (and aiokafka against it) cannot do it, and
consumers are idempotent anyway (at-least-once delivery)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, Self

from aiokafka import AIOKafkaProducer

from shared.contracts.events import Envelope
from shared.platform.kafka.security import client_options


def event_headers(envelope: Envelope[Any]) -> list[tuple[str, bytes]]:
    return [
        ("event_id", str(envelope.id).encode()),
        ("type", envelope.type.encode()),
        ("correlation_id", envelope.correlation_id.encode()),
    ]


class RawSender(Protocol):
    """What a consumer needs of a publisher: sending raw bytes (its dead letters)."""

    async def send_raw(
        self, topic: str, value: bytes, key: str | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None: ...


class EventPublisher:
    def __init__(self, bootstrap: str) -> None:
        # linger_ms=0: every send is awaited (send_and_wait; the outbox relay sends its rows one after the other),
        # so waiting for a batch to fill only delays each message, by 5 ms at linger_ms=5 (docs/benchmarks.md).
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=0, request_timeout_ms=15_000, **client_options()
        )
        # Called with the topic once the broker acknowledged a message: wakes idle consumers
        # (shared.platform.kafka.wakeup).
        self.on_sent: Callable[[str], Awaitable[None]] | None = None

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, envelope: Envelope[Any], key: str | None = None) -> None:
        """Send and wait for the broker's ack."""
        await self.send_raw(envelope.type, envelope.model_dump_json().encode(), key, event_headers(envelope))

    async def send_raw(
        self, topic: str, value: bytes, key: str | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await self._producer.send_and_wait(topic, value=value, key=key.encode() if key else None, headers=headers)
        if self.on_sent is not None:
            await self.on_sent(topic)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
