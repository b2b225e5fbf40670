"""uvicorn's server with a once-a-second tick: an idle service wakes once a second, not ten times.

uvicorn's main loop sleeps 0.1 s between ticks only to notice a stop request (its signal handler sets
`should_exit`) and refreshes the responses' Date header every tenth tick. Here a tick waits up to a
second on a future that the signal handler also completes, so a stop is seen at once and the Date header
is refreshed every second as before: the same behaviour for a tenth of the idle wake-ups (issue #17,
"idle is idle").
"""

from __future__ import annotations

import asyncio
from types import FrameType

import uvicorn

TICK_S = 1.0  # uvicorn refreshes its Date header once a second: a tick per second keeps that


class QuietServer(uvicorn.Server):
    """A uvicorn.Server whose idle loop ticks once a second and wakes at once on a stop request."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: asyncio.Future[None] | None = None  # done at the end of the current tick, or on a stop request

    async def main_loop(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        while True:
            tick = self._tick = loop.create_future()  # before the check: a stop request from now on ends the wait
            # counter 0 on every tick: uvicorn's once-a-second work (Date header, notify callback) runs each tick
            if await self.on_tick(0):
                return
            timer = loop.call_later(TICK_S, _end, tick)  # a bare timer: no task per tick, unlike wait_for
            try:
                await tick
            finally:
                timer.cancel()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        loop, tick = self._loop, self._tick
        if loop is not None and tick is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_end, tick)  # a signal handler may run outside the loop's callbacks


def _end(tick: asyncio.Future[None]) -> None:
    if not tick.done():
        tick.set_result(None)
