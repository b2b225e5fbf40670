"""Run by tests/integration/test_launcher.py through the service launcher, as `python -m` runs a service."""

import json
import os
import signal
import sys
from pathlib import Path


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


line = sys.stdin.readline().strip()
print(
    json.dumps(
        {
            "line": line,
            "env": dict(os.environ),
            "fds": [fd for fd in range(256) if is_open(fd)],
            "pgid_is_pid": os.getpgid(0) == os.getpid(),
            "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
            "cmdline": Path("/proc/self/cmdline").read_bytes().replace(b"\0", b" ").decode(),
            "asyncpg_preloaded": "asyncpg" in sys.modules,
        }
    ),
    flush=True,
)
if os.environ.get("PROBE_WAIT") == "1":
    signal.pause()
sys.exit(int(os.environ.get("PROBE_EXIT", "0")))
