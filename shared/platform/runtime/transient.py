"""Transient failures: a dependency (database, broker) is away for a while, the work itself is fine.

Such a failure must not dead-letter a message nor turn a backtest into a FAILED result: whoever meets
one waits with a capped exponential backoff and tries again until the dependency is back. Everything
else is the work's own fault and counts towards its attempts.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog
from aiokafka.errors import KafkaError, KafkaTimeoutError

log = structlog.get_logger()
T = TypeVar("T")

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 5.0

# SQLSTATE classes of a server that is away or overloaded: 08 connection exception, 53 insufficient
# resources, 57P01..57P03 shutdown / crash / starting up, 40001 / 40P01 serialization failure / deadlock.
_TRANSIENT_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03", "40001", "40P01")


def _transient_here(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        return state.startswith(_TRANSIENT_SQLSTATES)
    if isinstance(exc, asyncpg.InterfaceError):
        # e.g. "cannot perform operation: connection is closed" on a pooled connection of a restarted server
        return "connection is closed" in str(exc) or "connection was closed" in str(exc)
    if isinstance(exc, KafkaTimeoutError):  # no broker answered in time (metadata, produce)
        return True
    return isinstance(exc, KafkaError) and bool(exc.retriable)


def is_transient(exc: BaseException) -> bool:
    """True when `exc`, or an exception it was raised from, says a dependency is unavailable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _transient_here(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def backoff_delay(failures: int, first: float = FIRST_DELAY_S, cap: float = MAX_DELAY_S) -> float:
    """Delay before retry number `failures` (1-based): first, 2x first, 4x first, ... capped."""
    return float(min(first * 2 ** (max(failures, 1) - 1), cap))


async def retry_while_transient(operation: Callable[[], Awaitable[T]], what: str) -> T:
    """Run `operation` until it succeeds, waiting out transient failures; other errors propagate."""
    failures = 0
    while True:
        try:
            return await operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
            failures += 1
            delay = backoff_delay(failures)
            log.warning(
                "dependency unavailable, retrying", operation=what, error=repr(exc), retry_in_s=delay, failures=failures
            )
            await asyncio.sleep(delay)
