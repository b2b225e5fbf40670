"""How a service starts: its consumer groups join at once (seconds on Tansu) while the rest of it waits for the
schemas; what a consumer fetched meanwhile waits until the whole service has started."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from shared.platform.kafka.consumer import MessageProcessor, handle_record
from shared.platform.runtime import service
from shared.platform.runtime.service import start_components


class Part:
    """A component that logs its start; `until`: its start lasts until that event (a consumer group's join)."""

    def __init__(self, name: str, log: list[str], joins_group: bool = False, until: asyncio.Event | None = None):
        self.name, self.log, self.joins_group, self.until = name, log, joins_group, until

    async def start(self) -> None:
        self.log.append(f"{self.name} starting")
        if self.until is not None:
            await self.until.wait()
        self.log.append(f"{self.name} started")

    async def stop(self) -> None:
        self.log.append(f"{self.name} stopped")


class Failing(Part):
    async def start(self) -> None:
        raise RuntimeError(f"{self.name} cannot start")


def _app_lifespan(log: list[str]) -> contextlib.AbstractAsyncContextManager[None]:
    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        log.append("app entered")
        yield
        log.append("app left")

    return lifespan()


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.mark.timeout(30)
async def test_groups_join_while_the_rest_waits_for_the_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    migrated, joined, log = asyncio.Event(), asyncio.Event(), []
    monkeypatch.setattr(service, "schemas_migrated", migrated.wait)
    components = [Part("relay", log), Part("consumers", log, joins_group=True, until=joined), Part("pause", log)]
    starting = asyncio.create_task(start_components(components, _app_lifespan(log)))  # type: ignore[arg-type]
    await _settle()
    assert log == ["consumers starting", "app entered"]  # the join began; the rest waits for the schemas
    migrated.set()
    await _settle()
    assert log[-1] == "relay started"  # in order, up to the group, whose join is not over
    assert "pause starting" not in log
    joined.set()
    await starting
    assert log == [
        "consumers starting",
        "app entered",
        "relay starting",
        "relay started",
        "consumers started",
        "pause starting",  # listed after the group: once it has joined
        "pause started",
    ]


@pytest.mark.timeout(30)
async def test_a_failed_start_cancels_the_joins_and_leaves_the_app_lifespan(monkeypatch: pytest.MonkeyPatch) -> None:
    never, log = asyncio.Event(), []
    monkeypatch.setattr(service, "schemas_migrated", lambda: asyncio.sleep(0))
    components = [Failing("relay", log), Part("consumers", log, joins_group=True, until=never)]
    with pytest.raises(RuntimeError, match="relay cannot start"):
        await start_components(components, _app_lifespan(log))  # type: ignore[arg-type]
    assert "consumers started" not in log  # the join under way was cancelled, not awaited for ever
    assert log[-1] == "app left"


def _record(topic: str = "t") -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, 7, 0, 0, None, b"{}", None, 0, 2, [])


async def test_a_consumer_holds_what_it_fetched_until_the_service_has_started() -> None:
    handled: list[Any] = []

    async def handler(envelope: Any) -> None:
        handled.append(envelope)

    async def commit() -> None:
        handled.append("committed")

    envelope = SimpleNamespace(id=uuid.uuid4(), correlation_id="c")
    processor = MessageProcessor("g", handler, publisher=None, parse=lambda topic, raw: envelope)  # type: ignore[arg-type]
    processor.hold_until = started = asyncio.Event()
    handling = asyncio.create_task(handle_record(processor, _record(), SimpleNamespace(commit=commit)))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert handled == []
    before = time.monotonic()
    assert processor.last_activity >= before  # busy while it holds: an idle pause would drop what it fetched
    started.set()
    await handling
    assert handled == [envelope, "committed"]
