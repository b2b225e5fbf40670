"""IB historical-data pacing as a limiter (pure asyncio, injectable clock): requests wait, never fail.

All rules at once: at most 50 requests started in any second (the data model's rule; IB allows 50 messages a
second for everything sent); at most 50 historical requests open at once; no identical request within
15 s; at most 5 requests for the same contract, exchange and tick type within 2 s; at most 60 requests
in any 10 minutes, a BID_ASK request counting twice. Requests are granted in the order they asked.

IB counts at its servers, where a request arrives later than it was granted here, by a delay that varies
with the network and with how busy this process is. So every window is kept `arrival_margin_s` longer
than IB's own: two requests granted exactly one window apart could otherwise arrive inside it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


ARRIVAL_MARGIN_S = 0.25


@dataclass(frozen=True)
class PacedRequest:
    contract: str
    exchange: str
    what_to_show: str
    bar_size: str
    duration: str
    end: str
    use_rth: bool = True

    @property
    def weight(self) -> int:
        return 2 if self.what_to_show == "BID_ASK" else 1

    @property
    def family(self) -> tuple[str, str, str]:
        """What the "5 in 2 seconds" rule groups by."""
        return self.contract, self.exchange, self.what_to_show


@dataclass(frozen=True)
class Started:
    at: float
    request: PacedRequest


class HistoricalPacer:
    def __init__(
        self,
        clock: Clock | None = None,
        per_second: int = 50,
        max_open: int = 50,
        identical_s: float = 15.0,
        family_limit: tuple[int, float] = (5, 2.0),
        window_limit: tuple[int, float] = (60, 600.0),
        arrival_margin_s: float = ARRIVAL_MARGIN_S,
    ) -> None:
        self.clock = clock or MonotonicClock()
        margin = arrival_margin_s
        self.per_second, self.max_open, self.identical_s = per_second, max_open, identical_s + margin
        self.second_s = 1.0 + margin
        self.family_limit = (family_limit[0], family_limit[1] + margin)
        self.window_limit = (window_limit[0], window_limit[1] + margin)
        self.history: deque[Started] = deque()  # starts within the longest window, oldest first
        self.open = 0
        self._turn = asyncio.Lock()  # FIFO: asyncio.Lock wakes waiters in order
        self._released = asyncio.Event()

    def _prune(self, now: float) -> None:
        horizon = max(self.window_limit[1], self.identical_s, self.family_limit[1], self.second_s)
        while self.history and self.history[0].at <= now - horizon:
            self.history.popleft()

    def delay_for(self, request: PacedRequest, now: float) -> float:
        """Seconds until `request` may start under the rate rules (0: now). The open-requests cap is separate."""
        self._prune(now)
        waits = [0.0]
        last_second = [s for s in self.history if s.at > now - self.second_s]
        if len(last_second) >= self.per_second:
            waits.append(last_second[-self.per_second].at + self.second_s - now)
        same = [s.at for s in self.history if s.request == request and s.at > now - self.identical_s]
        if same:
            waits.append(same[-1] + self.identical_s - now)
        limit, span = self.family_limit
        family = [s.at for s in self.history if s.request.family == request.family and s.at > now - span]
        if len(family) >= limit:
            waits.append(family[-limit] + span - now)
        limit, span = self.window_limit
        window = [s for s in self.history if s.at > now - span]
        used = sum(s.request.weight for s in window)
        if used + request.weight > limit:
            for s in window:  # wait until enough of the oldest starts leave the window
                used -= s.request.weight
                if used + request.weight <= limit:
                    waits.append(s.at + span - now)
                    break
        return max(waits)

    @asynccontextmanager
    async def slot(self, request: PacedRequest) -> AsyncIterator[None]:
        """Wait for the turn of `request`, hold an open-request slot while the body runs."""
        async with self._turn:
            while True:
                while self.open >= self.max_open:
                    self._released.clear()
                    await self._released.wait()
                delay = self.delay_for(request, self.clock.now())
                if delay <= 0:
                    break
                await self.clock.sleep(delay)
            self.history.append(Started(self.clock.now(), request))
            self.open += 1
        try:
            yield
        finally:
            self.open -= 1
            self._released.set()
