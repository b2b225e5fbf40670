"""A worker's subscriber on FastStream's in-memory test broker: handled, retried, dead-lettered, given up on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker

from shared.contracts import topics
from shared.contracts.events import BarsLoaded, Envelope, make_event
from shared.contracts.models import Timeframe
from shared.platform.kafka.consumer import EventConsumer
from shared.platform.settings import Settings

pytestmark = pytest.mark.asyncio


class RecordingPublisher:
    """Keeps what would go to the broker (dead letters) in memory."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, str | None]] = []

    async def send_raw(
        self, topic: str, value: bytes, key: str | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        self.sent.append((topic, value, key))


def _bars_loaded(instrument: str) -> bytes:
    now = datetime.now(UTC)
    data = BarsLoaded(instrument_id=instrument, timeframe=Timeframe.BAR_DAILY, first=now, last=now, rows=1)
    return make_event(topics.BARS_LOADED, data, source="bts/test", subject=instrument).model_dump_json().encode()


async def test_a_worker_subscriber_handles_retries_and_dead_letters() -> None:
    handled: list[str] = []
    attempts: dict[str, int] = {}
    given_up: list[tuple[str, str]] = []

    async def handler(envelope: Envelope[Any]) -> None:
        instrument = envelope.data.instrument_id
        attempts[instrument] = attempts.get(instrument, 0) + 1
        if instrument == "FLAKY.NASDAQ" and attempts[instrument] == 1:
            raise RuntimeError("first attempt fails")
        if instrument == "BROKEN.NASDAQ":
            raise RuntimeError("always fails")
        handled.append(instrument)

    async def give_up(envelope: Envelope[Any], reason: str) -> None:
        given_up.append((envelope.data.instrument_id, reason))

    publisher = RecordingPublisher()
    consumer = EventConsumer(
        Settings(), "unused:9092", "bts-test", [topics.BARS_LOADED], handler, publisher, retry_backoff_s=0.001
    )
    consumer.processor.on_give_up[topics.BARS_LOADED] = give_up
    async with TestKafkaBroker(consumer.broker) as broker:
        for instrument in ("AAPL.NASDAQ", "FLAKY.NASDAQ", "BROKEN.NASDAQ"):
            await broker.publish(_bars_loaded(instrument), topics.BARS_LOADED, key=instrument.encode())
        await broker.publish(b"not json", topics.BARS_LOADED, key=b"junk")

    assert handled == ["AAPL.NASDAQ", "FLAKY.NASDAQ"]
    assert attempts == {"AAPL.NASDAQ": 1, "FLAKY.NASDAQ": 2, "BROKEN.NASDAQ": 3}
    assert [topic for topic, _, _ in publisher.sent] == [topics.dlq(topics.BARS_LOADED)] * 2
    assert [key for _, _, key in publisher.sent] == ["BROKEN.NASDAQ", "junk"]
    assert [instrument for instrument, _ in given_up] == ["BROKEN.NASDAQ"]
    assert "always fails" in given_up[0][1]
    assert consumer.stats.dead_lettered == {topics.BARS_LOADED: 2}
