"""Warm-up: what a service's first message would otherwise pay for (heavy imports such as NautilusTrader,
empyrical or plotly, exchange calendars, first-use costs), done once in the background from the moment the
service starts its components: the imports it spends seconds of CPU on are not on the way to ready, and they
overlap the seconds the consumers wait for their group join, so the first request seldom waits for them.

A message that arrives during the warm-up still works: it waits on the same imports (Python's import locks)
and caches, never on the warm-up itself. A failed warm-up is logged; the first message then pays as before.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Awaitable, Callable

import structlog

from shared.platform.runtime.tasks import cancel

log = structlog.get_logger()

Warm = Callable[[], Awaitable[None]]


async def imported_in_thread(*modules: str) -> None:
    """Import `modules` in a worker thread, if not done yet: the event loop goes on meanwhile (the consumer
    groups' heartbeats, /ready). A service's heavy modules load this way, with its warm-up or its first message."""
    for module in modules:
        await asyncio.to_thread(importlib.import_module, module)


class WarmUp:
    """A component that runs `warm()` once, in a task of its own, from the moment it is started. List it before
    the service's consumers: it then runs while they join their groups (seconds of waiting on the broker),
    and is done, or nearly, when the service is ready."""

    def __init__(self, warm: Warm) -> None:
        self.warm = warm
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        started = time.monotonic()
        try:
            await self.warm()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("warm-up failed; the first message pays for it", error=repr(exc))
            return
        seconds = time.monotonic() - started
        log.info(f"warmed up in {seconds:.2f} s", seconds=round(seconds, 3))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="warm-up")

    async def finished(self) -> None:
        """Wait until the warm-up is over (done or failed)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
