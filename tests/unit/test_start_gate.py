"""The start gate of `bts up`: a service started with BTS_START_GATE=stdin waits for the rest of its environment
(one JSON line on stdin) before it reads its settings; started any other way, it reads nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SHOW = (
    "import os; from shared.platform.runtime.gate import environment_from_parent; "
    "environment_from_parent(); print(os.environ.get('BTS_DATABASE_URL'))"
)


def _run(gate: bool, given: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    if gate:
        env["BTS_START_GATE"] = "stdin"
    return subprocess.run(
        [sys.executable, "-c", SHOW], input=given, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_gated_service_takes_its_settings_from_stdin() -> None:
    done = _run(gate=True, given=json.dumps({"BTS_DATABASE_URL": "postgresql://db/bts"}) + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "postgresql://db/bts"


def test_a_gated_service_whose_parent_went_away_stops_with_a_reason() -> None:
    done = _run(gate=True, given="")
    assert done.returncode != 0
    assert "closed this service's stdin" in done.stderr


def test_without_the_gate_nothing_is_read() -> None:
    done = _run(gate=False, given=json.dumps({"BTS_DATABASE_URL": "postgresql://db/bts"}) + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
