"""Failed authentication per client: past a limit within a sliding window, the client is told to wait.

Pure and in memory (one gateway process); the clock is injected so tests need not sleep.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MAX_CLIENTS = 100_000  # clients tracked at once: beyond it the stalest are forgotten (bounded memory)


@dataclass(frozen=True)
class FailureLimit:
    max_failures: int = 20
    window_s: float = 60.0


class AuthFailures:
    """Counts each client's failed authentications over the last `window_s` seconds."""

    def __init__(self, limit: FailureLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.clock = limit, clock
        self._failures: dict[str, deque[float]] = {}

    def record(self, client: str) -> None:
        """Note one failed authentication by `client`."""
        now = self.clock()
        failures = self._recent(client, now)
        if failures is None:
            if len(self._failures) >= MAX_CLIENTS:
                self._failures.pop(next(iter(self._failures)))  # the oldest entry first (insertion order)
            failures = self._failures[client] = deque()
        failures.append(now)
        if len(failures) > self.limit.max_failures:
            failures.popleft()  # only the last max_failures matter

    def retry_after(self, client: str) -> float | None:
        """Seconds `client` must wait before its failures drop under the limit, or None if it is not over it."""
        now = self.clock()
        failures = self._recent(client, now)
        if failures is None or len(failures) < self.limit.max_failures:
            return None
        return max(failures[0] + self.limit.window_s - now, 0.0)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.limit.window_s:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures
