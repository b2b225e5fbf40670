"""Settings sent after start: `bts up` starts the services before its embedded database and broker are up, so
that their imports (seconds of CPU each) overlap that start, and sends each one on stdin:

1. the rest of its environment (database URL, broker), one JSON object on one line, once the database and the
   broker are up: the service starts, and its consumers join their groups (seconds on Tansu) meanwhile;
2. `migrated`, once the schemas are: the rest of the service starts (shared/platform/runtime/service.py).

Only with BTS_START_GATE=stdin (what `bts up` sets); a service started any other way reads nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

GATE_VARIABLE = "BTS_START_GATE"
FROM_STDIN = "stdin"
MIGRATED = "migrated"  # the second line
YIELDING_NICE = 10
T = TypeVar("T")


def environment_from_parent() -> None:
    """Wait for the rest of the environment on stdin if the gate is set, and apply it."""
    if os.environ.get(GATE_VARIABLE) != FROM_STDIN:
        return
    line = sys.stdin.readline()
    if not line:  # the parent went away, or gave up starting the stack
        raise SystemExit("bts up closed this service's stdin before it sent its settings")
    os.environ.update({str(k): str(v) for k, v in json.loads(line).items()})


async def schemas_migrated() -> None:
    """Wait for the second line if the gate is set (at once otherwise): the schemas are migrated."""
    if os.environ.get(GATE_VARIABLE) != FROM_STDIN:
        return
    loop = asyncio.get_running_loop()
    said: asyncio.Future[str] = loop.create_future()

    def read() -> None:  # a daemon thread: a service stopped meanwhile does not wait for the line
        line = sys.stdin.readline()

        def settle() -> None:
            if not said.done():
                said.set_result(line)

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(settle)

    threading.Thread(target=read, name="gate", daemon=True).start()
    if (await said).strip() != MIGRATED:
        raise SystemExit("bts up closed this service's stdin before it said the schemas were migrated")


def preload(*modules: str, yielding: bool = False) -> None:
    """Import `modules`, in turn, in a background thread from now on: what a process needs soon but not yet (a
    service's heavy modules, which its warm-up and messages need, not its start) loads while it waits for
    something else (its settings; `bts up`: the database and broker). A later import of one waits for it.
    `yielding`: at a lower CPU priority (that thread only), so that it takes no CPU from the other services'
    start, which `bts up` waits for."""

    def load() -> None:
        if yielding:
            yield_cpu()
        for module in modules:
            importlib.import_module(module)

    threading.Thread(target=load, name="preload", daemon=True).start()


def yield_cpu() -> None:
    """Lower the CPU priority of the calling thread only (Linux keeps a nice value per thread; elsewhere nothing
    changes). A process it starts afterwards inherits it: call it only on a thread that starts none."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), YIELDING_NICE)


def at_lower_priority(work: Callable[[], T]) -> T:
    """`work()` on a thread of lower CPU priority (`yield_cpu`), waited for: what must be done soon, but not as
    soon as what runs beside it (`bts up`: its migrations, while the services import and start)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lower-priority", initializer=yield_cpu) as thread:
        return thread.submit(work).result()
