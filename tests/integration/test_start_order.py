"""A service started as `bts up` starts it: its consumer groups join as soon as it has its settings, and what they
fetch waits until `bts up` says the schemas are migrated and the rest of the service has started (a migration
slower than the join must not see a message handled against an old schema)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bts.migrations import migrate_all
from shared.contracts import topics
from shared.contracts.events import BacktestFailed, make_event
from shared.devstack.process import free_port
from shared.devstack.stack import EmbeddedStack
from shared.platform.db.urls import role_url
from shared.platform.kafka.admin import ensure_topics
from shared.platform.runtime.gate import FROM_STDIN, GATE_VARIABLE, MIGRATED
from shared.platform.settings import Settings
from tests.integration.conftest import publish

pytestmark = pytest.mark.integration

JOINED = "Joined group 'bts-reporting' (generation"
HANDLED = ('"message handled"', '"handler failed"')  # the handler ran (it fails on a backtest nobody has)
STARTED = '"service started"'


def _events(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _line_with(log: Path, texts: tuple[str, ...], within: float) -> int:
    """Index of the first line of `log` holding one of `texts`, waiting up to `within` seconds for it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for index, line in enumerate(_events(log)):
            if any(text in line for text in texts):
                return index
        time.sleep(0.1)
    raise AssertionError(f"none of {texts} in {log} within {within:.0f} s:\n" + "\n".join(_events(log)[-20:]))


def _handled(line: str) -> bool:
    return any(marker in line for marker in HANDLED)


@pytest.fixture
def gated_reporting(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, str]]:
    """The reporting service spawned as `bts up` spawns it, its settings sent; (process, log, broker)."""
    settings = Settings(state_dir=tmp_path / "state")
    with EmbeddedStack(settings) as endpoints:
        migrate_all(endpoints.database_url, settings.db_role_password)
        asyncio.run(ensure_topics(endpoints.kafka_bootstrap))
        log = tmp_path / "reporting.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
        env |= {
            "BTS_STATE_DIR": str(settings.state_dir),
            "BTS_SERVICE_PORT": str(free_port()),
            GATE_VARIABLE: FROM_STDIN,
        }
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.reporting"], env=env, stdin=subprocess.PIPE, stdout=out, stderr=out
            )
        try:
            given = {
                "BTS_DATABASE_URL": role_url(endpoints.database_url, "reporting", settings.db_role_password),
                "BTS_KAFKA_BOOTSTRAP": endpoints.kafka_bootstrap,
            }
            assert proc.stdin is not None
            proc.stdin.write((json.dumps(given) + "\n").encode())
            proc.stdin.flush()
            yield proc, log, endpoints.kafka_bootstrap
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # stuck (a failing test): do not leave it behind
                proc.kill()
                proc.wait(timeout=30)


def test_consumers_join_first_and_handle_nothing_until_the_schemas_are_migrated(
    gated_reporting: tuple[subprocess.Popen[bytes], Path, str],
) -> None:
    proc, log, bootstrap = gated_reporting
    _line_with(log, (JOINED,), within=60)  # joined without word of the schemas
    failed = BacktestFailed(
        backtest_id=uuid.uuid4(), user_id=uuid.uuid4(), configuration_id=uuid.uuid4(), error_message="for the test"
    )
    asyncio.run(publish(bootstrap, [(make_event(topics.BACKTEST_FAILED, failed, source="test"), "someone")]))
    time.sleep(3)  # an active consumer fetches and handles it within a fraction of that
    assert not [line for line in _events(log) if _handled(line) or STARTED in line]
    assert proc.stdin is not None
    proc.stdin.write((MIGRATED + "\n").encode())
    proc.stdin.close()
    handled = _line_with(log, HANDLED, within=30)
    assert _line_with(log, (STARTED,), within=1) < handled  # the rest of the service started first
