"""`bts up` as a person runs it: the stack comes up, every service answers /ready, and a signal stops
every process it started, leaving no orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from bts.stackfile import read_stack
from shared.embedded.process import free_port

pytestmark = pytest.mark.integration


def _start_up(state_dir: Path, api_port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    env.update(BTS_STATE_DIR=str(state_dir), BTS_API_URL=f"http://127.0.0.1:{api_port}")
    return subprocess.Popen(
        [sys.executable, "-m", "bts", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            lines.append(line.rstrip())
            if needle in line:
                return lines
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.05)
    raise AssertionError(f"no {needle!r} in output of bts up:\n" + "\n".join(lines))


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_bts_up_serves_and_stops_without_orphans(tmp_path: Path, stop_signal: signal.Signals) -> None:
    api_port = free_port()
    proc = _start_up(tmp_path / "state", api_port)
    try:
        lines = _wait_for_line(proc, "Press Ctrl-C", timeout=180)
        assert any(f"http://127.0.0.1:{api_port}" in line for line in lines)
        assert any(line.startswith("demo API key: bts_") for line in lines)
        stack = read_stack(tmp_path / "state")
        assert stack is not None
        assert {s.name for s in stack.services} == {"api", "ingest", "engine", "reporting"}
        for svc in stack.services:
            ready = httpx.get(svc.url + "/ready", timeout=5)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "kafka": "ok", "migrations": "ok"}
            assert httpx.get(svc.url + "/health", timeout=5).json()["service"] == svc.name
            assert b"python_info" in httpx.get(svc.url + "/metrics", timeout=5).content
        descendants = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in descendants)
        assert "postgres" in names
        assert "tansu" in names
        assert "services.engine" in names
        if stop_signal == signal.SIGINT:  # as a terminal's Ctrl-C: to the whole foreground group, twice
            os.killpg(proc.pid, signal.SIGINT)
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(stop_signal)
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(descendants, timeout=10)
        assert alive == [], f"orphans left: {[p.pid for p in alive]}"
        assert read_stack(tmp_path / "state") is None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
