"""The service launcher (bts/launcher.py): a forked service gets what `subprocess.Popen` would give it."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bts.launcher import Launcher

PROBE = "tests.integration.launched_probe"


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    started = Launcher(tmp_path / "launcher.log")
    yield started
    started.stop()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def _report(log: Path) -> dict[str, object]:
    return json.loads(log.read_text().splitlines()[0])


def test_a_service_gets_its_environment_stdin_log_listener_and_exit_code(
    launcher: Launcher, listener: socket.socket, tmp_path: Path
) -> None:
    log = tmp_path / "probe.log"
    env = {"PATH": os.environ["PATH"], "PROBE_EXIT": "3", "ONLY_HERE": "yes"}
    proc = launcher.launch(PROBE, env, log, listener.fileno(), piped_stdin=True)
    assert proc.stdin is not None
    proc.stdin.write(b"hello\n")
    proc.stdin.close()
    assert proc.wait(timeout=60) == 3
    report = _report(log)
    assert report["line"] == "hello"
    assert report["env"] == env  # exactly what it was given, nothing of the launcher's or ours
    assert report["fds"] == sorted([0, 1, 2, listener.fileno()])  # the listener, under its number, and no other
    assert report["pgid_is_pid"]
    assert report["sigterm_default"]
    assert f"-m {PROBE}" in str(report["cmdline"])
    assert report["asyncpg_preloaded"]  # imported once, by the launcher


def test_a_signalled_service_reports_the_signal_as_popen_does(
    launcher: Launcher, listener: socket.socket, tmp_path: Path
) -> None:
    log = tmp_path / "probe.log"
    env = {"PATH": os.environ["PATH"], "PROBE_WAIT": "1"}
    proc = launcher.launch(PROBE, env, log, listener.fileno())
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, log.read_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    assert proc.returncode == -signal.SIGTERM


def test_a_launcher_that_died_is_replaced_and_its_services_end(
    launcher: Launcher, listener: socket.socket, tmp_path: Path
) -> None:
    env = {"PATH": os.environ["PATH"], "PROBE_WAIT": "1"}
    first = launcher.launch(PROBE, env, tmp_path / "first.log", listener.fileno())
    launcher._proc.kill()  # its services get SIGTERM with its death
    assert first.wait(timeout=30) == -signal.SIGTERM
    second = launcher.launch(PROBE, {**env, "PROBE_WAIT": "0"}, tmp_path / "second.log", listener.fileno())
    assert second.wait(timeout=60) == 0
