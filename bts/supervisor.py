"""When `bts up` restarts a crashed service, and when it gives up: pure bookkeeping, no processes."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from shared.platform.settings import Settings

MAX_BACKOFF_S = 10.0


@dataclass(frozen=True)
class CrashPolicy:
    """A service is restarted after `backoff_s * 2**(n-1)` seconds (capped) for its n-th crash within
    `window_s`; its `max_crashes`-th crash within the window stops the stack."""

    max_crashes: int = 5
    window_s: float = 60.0
    backoff_s: float = 0.5

    @classmethod
    def of(cls, settings: Settings) -> CrashPolicy:
        return cls(settings.supervisor_max_crashes, settings.supervisor_window_s, settings.supervisor_backoff_s)


@dataclass(frozen=True)
class Verdict:
    crashes: int  # within the window, this one included
    restart_in_s: float | None  # None: it crashes too often, stop the stack


@dataclass
class CrashHistory:
    policy: CrashPolicy
    _crashes: dict[str, deque[float]] = field(default_factory=dict)

    def record(self, service: str, now: float) -> Verdict:
        """Note a crash of `service` at `now` (monotonic seconds) and say what to do about it."""
        times = self._crashes.setdefault(service, deque())
        times.append(now)
        while times and times[0] <= now - self.policy.window_s:
            times.popleft()
        n = len(times)
        if n >= self.policy.max_crashes:
            return Verdict(n, None)
        return Verdict(n, min(self.policy.backoff_s * 2 ** (n - 1), MAX_BACKOFF_S))
