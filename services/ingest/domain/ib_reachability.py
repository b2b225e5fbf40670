"""Whether TWS / IB Gateway was found unreachable a moment ago (pure; injectable clock).

An IBKR import that cannot connect tries 4 times with backoff (~15 s) before it fails. The ingest consumer
handles one message at a time, so while the gateway is down a queue of IBKR imports would hold every import
behind it, other users' CSV files too, ~15 s each. After a connection that failed all its attempts, the imports
of the next `retry_after_s` fail at once, with that reason; the first one after it tries again.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.ingest.domain.ib_pacing import Clock, MonotonicClock

RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class Unreachable:
    at: float
    reason: str


class IbReachability:
    """One per ingest process, shared by its imports (as the pacer is)."""

    def __init__(self, clock: Clock | None = None, retry_after_s: float = RETRY_AFTER_S) -> None:
        self.clock = clock or MonotonicClock()
        self.retry_after_s = retry_after_s
        self._unreachable: Unreachable | None = None

    def refusal(self) -> str | None:
        """Why to fail at once: the gateway was found unreachable less than `retry_after_s` ago; else None."""
        if self._unreachable is None:
            return None
        ago = self.clock.now() - self._unreachable.at
        if ago >= self.retry_after_s:
            return None
        return (
            f"{self._unreachable.reason} ({ago:.0f} s ago; not tried again for {self.retry_after_s - ago:.0f} s, "
            "so that imports queued behind this one do not wait for it)"
        )

    def failed(self, reason: str) -> None:
        """A connection failed all its attempts, for `reason`."""
        self._unreachable = Unreachable(self.clock.now(), reason)

    def reached(self) -> None:
        self._unreachable = None
