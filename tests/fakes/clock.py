"""A virtual clock for the IB pacing and reachability (services.ingest.domain.ib_pacing.Clock): time moves only
when something sleeps on it, or when a test sets `t`."""

from __future__ import annotations

import asyncio


class VirtualClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)
