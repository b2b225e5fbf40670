"""The start gate of `bts up`: a service started with BTS_START_GATE=stdin waits for the rest of its environment
(one JSON line on stdin) before it reads its settings, then for a second line that says the schemas are migrated
before it starts what uses them; started any other way, it reads nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from shared.platform.runtime.gate import YIELDING_NICE, at_lower_priority

SHOW = (
    "import os; from shared.platform.runtime.gate import environment_from_parent; "
    "environment_from_parent(); print(os.environ.get('BTS_DATABASE_URL'))"
)


MIGRATED = (
    "import asyncio; from shared.platform.runtime.gate import environment_from_parent, schemas_migrated; "
    "environment_from_parent(); asyncio.run(schemas_migrated()); print('migrated')"
)


def _run(gate: bool, given: str, script: str = SHOW) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    if gate:
        env["BTS_START_GATE"] = "stdin"
    return subprocess.run(
        [sys.executable, "-c", script], input=given, env=env, capture_output=True, text=True, timeout=60, check=False
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


def test_a_gated_service_waits_for_word_that_the_schemas_are_migrated() -> None:
    settings = json.dumps({"BTS_DATABASE_URL": "postgresql://db/bts"}) + "\n"
    done = _run(gate=True, given=settings + "migrated\n", script=MIGRATED)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "migrated"
    cut_short = _run(gate=True, given=settings, script=MIGRATED)  # `bts up` gave up (its migrations failed)
    assert cut_short.returncode != 0
    assert "before it said the schemas were migrated" in cut_short.stderr
    assert "migrated" not in cut_short.stdout


def test_without_the_gate_the_schemas_are_not_waited_for() -> None:
    done = _run(gate=False, given="", script=MIGRATED)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "migrated"


def test_work_at_lower_priority_runs_at_a_lower_cpu_priority_and_gives_back_its_result_or_error() -> None:
    def own_nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = own_nice()
    assert at_lower_priority(own_nice) == min(19, before + YIELDING_NICE)
    assert own_nice() == before  # the caller's thread keeps its own
    with pytest.raises(ValueError, match="invalid literal"):
        at_lower_priority(lambda: int("x"))
