"""`bts up` in a child process, for the tests and benchmarks that need a whole running stack."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bts.stackfile import StackFile, read_stack
from shared.devstack.process import free_port


@contextlib.contextmanager
def started_stack(
    state: Path, extra_env: dict[str, str] | None = None, ready_within: float = 180
) -> Iterator[StackFile]:
    """`bts up` on a state dir of its own (plus `extra_env`, e.g. a small BTS_MAX_UPLOAD_BYTES), until exit.
    The caller's BTS_* settings are not passed on: the stack makes its own embedded parts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    env.update(BTS_STATE_DIR=str(state), BTS_API_URL=f"http://127.0.0.1:{free_port()}", **(extra_env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bts", "up"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + ready_within
        while (found := read_stack(state)) is None:
            if proc.poll() is not None:
                raise RuntimeError(f"bts up exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"bts up was not ready within {ready_within:.0f} s")
            time.sleep(0.05)
        yield found
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
