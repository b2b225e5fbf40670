"""`bts up` as a person runs it: the stack comes up, every service answers /ready, a crashed service is
started again (until it crashes too often), and a signal stops every process it started, leaving no orphan."""

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
from shared.devstack.process import free_port

pytestmark = pytest.mark.integration


def _start_up(state_dir: Path, api_port: int, **settings: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    env.update(BTS_STATE_DIR=str(state_dir), BTS_API_URL=f"http://127.0.0.1:{api_port}", **settings)
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


def _wait_for_log(path: Path, needle: str, timeout: float) -> str:
    """The first line of the log at `path` that contains `needle` (waited for: the service writes it later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in path.read_text(errors="replace").splitlines() if needle in line]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no {needle!r} in {path}:\n{path.read_text(errors='replace')[-3000:]}")


@pytest.mark.parametrize(
    ("stop_signal", "launcher"),
    [(signal.SIGINT, "true"), (signal.SIGTERM, "true"), (signal.SIGTERM, "false")],
    ids=["SIGINT", "SIGTERM", "SIGTERM, a process of its own per service"],
)
def test_bts_up_serves_and_stops_without_orphans(tmp_path: Path, stop_signal: signal.Signals, launcher: str) -> None:
    api_port = free_port()
    proc = _start_up(tmp_path / "state", api_port, BTS_SERVICE_LAUNCHER=launcher)
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
        # after ready, the warm-ups run in the background (not timed: they end, and say so)
        logs = {svc.name: Path(svc.log) for svc in stack.services}
        assert "COMPLETED" in _wait_for_log(logs["engine"], "warm-up backtest done", timeout=120)
        for name in ("engine", "reporting"):
            _wait_for_log(logs[name], "warmed up in", timeout=120)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in descendants)
        assert "postgres" in names
        assert "tansu" in names
        assert "services.engine" in names
        assert ("bts.launcher" in names) == (launcher == "true")
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


def test_bts_up_restarts_a_crashed_service_and_stops_when_it_crashes_too_often(tmp_path: Path) -> None:
    """kill -9 of the engine: restarted on its port (one line from `bts up`, a line in its log, the new pid in
    stack.json). With BTS_SUPERVISOR_MAX_CRASHES=2, its second crash within the window stops the stack with
    a message naming it and its log."""
    state, api_port = tmp_path / "state", free_port()
    proc = _start_up(state, api_port, BTS_SUPERVISOR_MAX_CRASHES="2")
    try:
        _wait_for_line(proc, "Press Ctrl-C", timeout=180)
        before = read_stack(state)
        assert before is not None
        engine = next(s for s in before.services if s.name == "engine")
        os.kill(engine.pid, signal.SIGKILL)
        lines = _wait_for_line(proc, "restarting it in", timeout=30)
        expected = "service engine exited with code -9; restarting it in 0.5 s (crash 1 within 60 s; log: "
        assert expected + engine.log + ")" in lines[-1]

        def restarted() -> int | None:
            now = read_stack(state)
            pid = next(s.pid for s in now.services if s.name == "engine") if now is not None else None
            return pid if pid != engine.pid else None

        deadline = time.monotonic() + 30
        while (new_pid := restarted()) is None:
            assert time.monotonic() < deadline, "stack.json never showed a new engine"
            time.sleep(0.2)
        deadline = time.monotonic() + 120
        while True:  # the same port, ready again
            try:
                if httpx.get(engine.url + "/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the restarted engine never became ready"
            time.sleep(0.5)
        assert "[bts up] restarted as pid" in Path(engine.log).read_text()

        os.kill(new_pid, signal.SIGKILL)
        lines = _wait_for_line(proc, "stopping the stack", timeout=30)
        expected = "service engine crashed 2 times within 60 s (last exit code -9); stopping the stack. Its log: "
        assert expected + engine.log in lines[-1]
        assert proc.wait(timeout=90) == 1
        assert read_stack(state) is None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
