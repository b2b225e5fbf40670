"""A job that runs every so often inside a service (retention, reconciliation), as a component the lifespan
starts and stops.

The clock is injectable, so tests run the job once at any date they like.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from shared.platform.runtime.tasks import cancel

log = structlog.get_logger()

Clock = Callable[[], datetime]
Work = Callable[[datetime], Awaitable[int]]  # (now) -> how many things it removed or fixed


def utc_now() -> datetime:
    return datetime.now(UTC)


class PeriodicJob:
    """Runs `work(clock())` at start, then every `every_s` seconds; a failed run is logged and retried at
    the next tick (the database may be away for a while), never fatal to the service."""

    def __init__(self, name: str, work: Work, every_s: float = 3600.0, clock: Clock = utc_now) -> None:
        self.name, self.work, self.every_s, self.clock = name, work, every_s, clock
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        done = await self.work(self.clock())
        if done:
            log.info("scheduled job done", job=self.name, count=done)
        return done

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "scheduled job failed; retrying at the next run",
                    job=self.name,
                    error=repr(exc),
                    next_run_s=self.every_s,
                )
            await asyncio.sleep(self.every_s)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"job-{self.name}")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
