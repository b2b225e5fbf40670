"""uvicorn's server with a once-a-second tick: an idle service wakes once a second, not ten times.

uvicorn's main loop sleeps 0.1 s between ticks only to notice a stop request (its signal handler sets
`should_exit`) and refreshes the responses' Date header every tenth tick. Here a tick waits up to a
second on an event the signal handler sets, so a stop is seen at once and the Date header is refreshed
every second as before: the same behaviour for a tenth of the idle wake-ups (issue #17, "idle is idle").
"""

from __future__ import annotations

import asyncio
import contextlib
from types import FrameType

import uvicorn

TICK_S = 1.0  # uvicorn refreshes its Date header once a second: a tick per second keeps that


class QuietServer(uvicorn.Server):
    """A uvicorn.Server whose idle loop ticks once a second and wakes at once on a stop request."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop_requested: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop, self._stop_requested = asyncio.get_running_loop(), asyncio.Event()
        # counter 0 on every tick: uvicorn's once-a-second work (Date header, notify callback) runs each tick
        while not await self.on_tick(0):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), timeout=TICK_S)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        loop, stop_requested = self._loop, self._stop_requested
        if loop is not None and stop_requested is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop_requested.set)  # a signal handler may run outside the loop's callbacks
