"""Settings sent after start: `bts up` starts the services before its embedded database and broker are up, so
that their imports (seconds of CPU each) overlap that start, and sends each one the rest of its environment
(database URL, broker) on stdin, one JSON object on one line, once the schemas are migrated.

Only with BTS_START_GATE=stdin (what `bts up` sets); a service started any other way reads nothing.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading

GATE_VARIABLE = "BTS_START_GATE"
FROM_STDIN = "stdin"


def environment_from_parent() -> None:
    """Wait for the rest of the environment on stdin if the gate is set, and apply it."""
    if os.environ.get(GATE_VARIABLE) != FROM_STDIN:
        return
    line = sys.stdin.readline()
    if not line:  # the parent went away, or gave up starting the stack
        raise SystemExit("bts up closed this service's stdin before it sent its settings")
    os.environ.update({str(k): str(v) for k, v in json.loads(line).items()})


def preload(*modules: str) -> None:
    """Import `modules`, in turn, in a background thread from now on: what a process needs soon but not yet (a
    service's heavy modules, which its warm-up and messages need, not its start) loads while it waits for
    something else (its settings; `bts up`: the database and broker). A later import of one waits for it."""

    def load() -> None:
        for module in modules:
            importlib.import_module(module)

    threading.Thread(target=load, name="preload", daemon=True).start()
