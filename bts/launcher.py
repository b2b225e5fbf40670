"""The service launcher: a clean process that has imported what every service imports, and forks services.

Each service spends ~0.6 s of CPU importing the same libraries (FastAPI, FastStream and aiokafka, asyncpg,
pydantic, structlog, uvicorn) before its own code. Four services starting at once on two cores reached their
consumer groups' join (seconds of waiting on the broker) only ~2.5 s after `bts up` started. The launcher
imports those libraries once, while the broker starts, and forks each service from there: a service starts
with them loaded and imports only its own code.

The launcher is a process of its own (`python -m bts.launcher`), not `bts up` itself: a fork inherits all of
its parent's state, and `bts up` (or the test process that runs it) has threads, logging handlers, exit
handlers and open files that a service must not have. The launcher has none of these. It imports only
libraries that start no thread at import (no numpy: OpenBLAS starts threads).

Protocol, over a Unix SOCK_SEQPACKET pair (one message each):
- `bts up` -> launcher: a JSON `{"module", "env", "listen_fd"}` with three descriptors (log, stdin, listener);
- launcher -> `bts up`: `{"started": pid}` at once, and `{"exited": pid, "code": code}` when it has reaped one
  (negative: the signal that ended it, as `subprocess` says it).

A service is set up as `subprocess.Popen` would set it up: its own process group, the launcher's death as
its SIGTERM (the launcher has `bts up`'s), stdin, output to its log, only its listener's descriptor, under the
number its environment names, default signal handlers, exactly the environment it is given.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import runpy
import select
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from shared.devstack.process import die_with_parent, start_logged, stop_process

# What every service imports before its own code (measured with -X importtime): libraries, then the platform
# modules all four share, which read nothing from the environment at import. A service restarted by `bts up`
# gets them as the launcher loaded them, at the stack's start.
SHARED_IMPORTS = (
    "asyncpg",
    "aiokafka",
    "faststream.kafka",
    "fastapi",
    "uvicorn",
    "pydantic",
    "pydantic_settings",
    "structlog",
    "prometheus_client",
    "httpx",
    "jinja2",
    "shared.contracts.events",
    "shared.contracts.models",
    "shared.platform.settings",
    "shared.platform.db.reads",
    "shared.platform.kafka.consumer",
    "shared.platform.kafka.producer",
    "shared.platform.runtime.messaging",
    "shared.platform.runtime.service",
    # The gateway's own modules too (its routes: 0.3 s of CPU, the most of the four), which otherwise make it the
    # last service to join its group; the others only carry them in memory.
    "services.api.app",
)
MESSAGE_BYTES = 1 << 20  # an environment is a few KB
WAIT_POLL_S = 0.01


class LaunchedProcess:
    """What the supervisor uses of `subprocess.Popen`, for a service the launcher started."""

    def __init__(self, launcher: Launcher, pid: int, stdin: IO[bytes] | None) -> None:
        self._launcher = launcher
        self.pid = pid
        self.stdin = stdin

    @property
    def returncode(self) -> int | None:
        return self._launcher.exit_code(self.pid)

    def poll(self) -> int | None:
        self._launcher.read_exits()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            time.sleep(WAIT_POLL_S)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Launcher:
    """`bts up`'s side: starts the launcher process at once (its imports overlap what `bts up` does next), and
    asks it for services."""

    def __init__(self, log_path: Path) -> None:
        self._log_path = log_path
        self._exits: dict[int, int] = {}
        self._children: set[int] = set()
        self._sock, self._proc = self._start()

    def _start(self) -> tuple[socket.socket, subprocess.Popen[bytes]]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with theirs:
            command = [sys.executable, "-m", "bts.launcher", str(theirs.fileno())]
            proc = start_logged(command, self._log_path, pass_fds=(theirs.fileno(),))
        return ours, proc

    def launch(
        self, module: str, env: Mapping[str, str], log_path: Path, listen_fd: int, piped_stdin: bool = False
    ) -> LaunchedProcess:
        """Start `python -m module` with exactly `env`, its output appended to `log_path`, serving on this
        process's `listen_fd` (under the same number); `piped_stdin`: `.stdin` of the result writes to its stdin."""
        if self._proc.poll() is not None:  # it died (its services with it): a new one
            self._sock.close()
            self._sock, self._proc = self._start()
        log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        read_fd, write_fd = os.pipe() if piped_stdin else (os.open(os.devnull, os.O_RDONLY), -1)
        try:
            request = json.dumps({"module": module, "env": dict(env), "listen_fd": listen_fd}).encode()
            socket.send_fds(self._sock, [request], [log_fd, read_fd, listen_fd])
            pid = self._started()
        finally:
            os.close(log_fd)
            os.close(read_fd)
        self._children.add(pid)
        return LaunchedProcess(self, pid, os.fdopen(write_fd, "wb") if piped_stdin else None)

    def _started(self) -> int:
        while True:
            message = self._receive(block=True)
            if message is None:
                raise RuntimeError(f"the service launcher exited; see {self._log_path}")
            if "started" in message:
                return int(message["started"])

    def read_exits(self) -> None:
        """Take in what the launcher said about exited services since the last time."""
        while self._receive(block=False) is not None:
            pass
        if self._proc.poll() is not None:  # its services got SIGTERM with its death; none can be reaped now
            for pid in self._children - self._exits.keys():
                self._exits[pid] = -signal.SIGTERM

    def _receive(self, block: bool) -> dict[str, Any] | None:
        if self._sock.fileno() < 0:  # stopped
            return None
        if not block and not select.select([self._sock], [], [], 0)[0]:
            return None
        try:
            data = self._sock.recv(MESSAGE_BYTES)
        except OSError:
            return None
        if not data:
            return None
        message: dict[str, Any] = json.loads(data)
        if "exited" in message:
            self._exits[int(message["exited"])] = int(message["code"])
        return message

    def exit_code(self, pid: int) -> int | None:
        return self._exits.get(pid)

    def stop(self) -> None:
        """Stop the launcher (its services are stopped first by the caller)."""
        self._sock.close()
        stop_process(self._proc, signal.SIGTERM, timeout=5)


# -- the launcher process ---------------------------------------------------------------------------------------


def serve(fd: int) -> None:
    """The launcher's loop: start a service per request, report each one reaped, until `bts up` goes."""
    # The preload makes ~190,000 objects that live as long as the services: no collection on the way (15% of its
    # time), and none in the services later (frozen: their collections skip them, and the pages that hold them stay
    # shared with the launcher instead of being copied on the collector's first write). As the gc docs advise.
    gc.disable()
    for module in SHARED_IMPORTS:
        with contextlib.suppress(ImportError):  # the service then imports it itself, or says why not
            importlib.import_module(module)
    gc.freeze()
    gc.enable()
    sock = socket.socket(fileno=fd)
    woken_r, woken_w = os.pipe()
    os.set_blocking(woken_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(woken_w)
    while True:
        ready = select.select([sock.fileno(), woken_r], [], [])[0]
        if woken_r in ready:
            os.read(woken_r, 512)
            _report_reaped(sock)
        if sock.fileno() in ready:
            data, fds, _flags, _address = socket.recv_fds(sock, MESSAGE_BYTES, 3)
            if not data:
                return  # `bts up` closed its end
            request = json.loads(data)
            launcher_pid = os.getpid()
            pid = os.fork()
            if pid == 0:
                _become_service(request, fds, launcher_pid)  # never returns
            for received in fds:
                os.close(received)
            sock.send(json.dumps({"started": pid}).encode())


def _report_reaped(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        with contextlib.suppress(OSError):
            sock.send(json.dumps({"exited": pid, "code": os.waitstatus_to_exitcode(status)}).encode())


def _become_service(request: dict[str, Any], fds: list[int], launcher_pid: int) -> None:
    """In the forked child: set up, run the service, and exit as Python does (exit handlers, non-daemon threads
    joined) with its code: SystemExit leaves the launcher's loop, which this child no longer runs."""
    from setproctitle import setproctitle

    module = str(request["module"])
    setproctitle(f"{sys.executable} -m {module}")  # what ps and pgrep show, as if started on its own
    _set_up_service(request["env"], fds, int(request["listen_fd"]), launcher_pid)
    raise SystemExit(_run_module(module))


def _set_up_service(env: Mapping[str, str], fds: list[int], listen_fd: int, launcher_pid: int) -> None:
    log_fd, stdin_fd, listener_fd = fds
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches only `bts up`, which stops everything in order
    die_with_parent(signal.SIGTERM)()
    if os.getppid() != launcher_pid:  # the launcher died before the line above
        raise SystemExit(1)
    os.dup2(stdin_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    if listener_fd != listen_fd:
        os.dup2(listener_fd, listen_fd)
    os.set_inheritable(listen_fd, True)
    os.closerange(3, listen_fd)
    os.closerange(listen_fd + 1, os.sysconf("SC_OPEN_MAX"))
    # The process's own streams, as a new interpreter makes them.
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(env)


def _run_module(module: str) -> int:
    sys.argv = ["-m"]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    serve(int(sys.argv[1]))
