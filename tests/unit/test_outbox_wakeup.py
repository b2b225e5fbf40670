"""The outbox relay's wake-up: a row committed while a publishing pass runs is published at once, not at the next
poll (a notification that came during the pass was once cleared after it, and the row waited poll_s)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from shared.platform.kafka import outbox
from shared.platform.kafka.outbox import OutboxRelay


@pytest.mark.timeout(30)
async def test_a_row_notified_during_a_pass_is_published_without_waiting_for_the_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = OutboxRelay(pool=None, schema="api", publisher=None, poll_s=20.0)  # type: ignore[arg-type]
    passes: list[float] = []

    async def listen() -> Any:
        return object()  # a listening connection, as far as the relay can tell

    async def publish_once() -> int:
        passes.append(time.monotonic())
        if len(passes) == 1:  # its claim found nothing, then a row was committed and its NOTIFY came
            relay._on_notify()
        return 0

    monkeypatch.setattr(outbox, "listener_alive", lambda _conn: True)
    monkeypatch.setattr(relay, "_listen", listen)
    monkeypatch.setattr(relay, "publish_once", publish_once)
    await relay.start()
    try:
        for _ in range(100):
            if len(passes) >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await relay.stop()
    assert len(passes) >= 2, "the notification that came during the pass was lost: the row waits for the poll"
    assert passes[1] - passes[0] < 1.0
