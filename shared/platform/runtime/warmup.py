"""Warm-up: what a service's first message would otherwise pay for (heavy imports such as NautilusTrader,
empyrical or plotly, exchange calendars, first-use costs), done once in the background from the moment the
service starts its components: the imports it spends seconds of CPU on are not on the way to ready, and they
overlap the seconds the consumers wait for their group join, so the first request seldom waits for them.

A message that arrives during the warm-up still works: it waits on the same imports (Python's import locks)
and caches, never on the warm-up itself. A failed warm-up is logged; the first message then pays as before.

What the warm-up leaves loaded (modules, classes, caches: about 300,000 objects in the engine) stays for the
life of the process, so it is then moved out of the garbage collector's sight (`gc.freeze`): otherwise every
full collection walks all of it again, and one in every few backtests paid ~0.15 s for that. Not when the
warm-up says work came first (it returns False): the objects of a job in flight would be kept for good.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import time
from collections.abc import Awaitable, Callable

import structlog

from shared.platform.runtime.tasks import cancel

log = structlog.get_logger()

Warm = Callable[[], Awaitable[bool | None]]  # False: work came first (nothing is frozen)


async def imported_in_thread(*modules: str) -> None:
    """Import `modules` in a worker thread, if not done yet: the event loop goes on meanwhile (the consumer
    groups' heartbeats, /ready). A service's heavy modules load this way, with its warm-up or its first message."""
    for module in modules:
        await asyncio.to_thread(importlib.import_module, module)


def freeze_loaded() -> int:
    """Collect the garbage there is, then exempt every object alive now from later collections (they are still
    freed when nothing refers to them). Returns how many objects are exempt."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


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
            alone = await self.warm()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("warm-up failed; the first message pays for it", error=repr(exc))
            return
        frozen = freeze_loaded() if alone is not False else 0
        seconds = time.monotonic() - started
        log.info(f"warmed up in {seconds:.2f} s", seconds=round(seconds, 3), frozen_objects=frozen)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="warm-up")

    async def finished(self) -> None:
        """Wait until the warm-up is over (done or failed)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
