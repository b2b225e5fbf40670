"""The warm-ups: the component runs its work in the background and logs it (or logs why it failed
without stopping the service); each service's warm-up runs its own code on synthetic data; and what the warm-ups
load is not on the services' way to ready (checked on what a fresh process imported, not on a clock)."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from services.engine.handlers import BACKTEST_STARTED
from services.engine.warmup import exercise as warm_engine
from services.engine.warmup import warm_up as warm_up_engine
from services.reporting.warmup import exercise as warm_reporting
from shared.platform.runtime.warmup import Warm, WarmUp


async def test_the_warm_up_runs_once_in_the_background_and_logs_its_time() -> None:
    runs, go_on = [], asyncio.Event()
    loaded = [["what the warm-up left loaded"]]  # a container: the garbage collector tracks it

    async def warm() -> None:
        await go_on.wait()
        runs.append("warm")

    warm_up = WarmUp(warm)
    with capture_logs() as logs:
        await warm_up.start()  # returns at once: the service does not wait for its warm-up
        assert runs == []
        go_on.set()
        await warm_up.finished()
        await warm_up.stop()
    assert runs == ["warm"]
    done = [e for e in logs if e["event"].startswith("warmed up in ")]
    assert len(done) == 1, logs
    assert done[0]["seconds"] >= 0
    # What is loaded by then is exempt from the collector's later passes (gc.get_objects lists what it walks).
    try:
        assert done[0]["frozen_objects"] > 0
        assert not any(tracked is loaded for tracked in gc.get_objects())
    finally:
        gc.unfreeze()  # this test process goes on with other tests


async def _logs_of_warm_up(warm: Warm) -> list[MutableMapping[str, Any]]:
    """What a WarmUp running `warm` to its end logs."""
    warm_up = WarmUp(warm)
    with capture_logs() as logs:
        await warm_up.start()
        await warm_up.finished()
        await warm_up.stop()
    return logs


async def test_a_failed_warm_up_is_logged_and_the_service_goes_on() -> None:
    async def warm() -> None:
        raise RuntimeError("no calendar today")

    logs = await _logs_of_warm_up(warm)
    failed = [e for e in logs if e["event"].startswith("warm-up failed")]
    assert failed
    assert "no calendar today" in failed[0]["error"]
    assert not [e for e in logs if e["event"].startswith("warmed up in ")]


async def test_a_stopped_service_stops_a_warm_up_still_running() -> None:
    warm_up = WarmUp(asyncio.Event().wait)  # never ends by itself
    await warm_up.start()
    await warm_up.stop()


def test_the_engine_warm_up_runs_a_synthetic_backtest_through_the_engine() -> None:
    outcome = warm_engine(["NO-SUCH-EXCHANGE", "NASDAQ", "LSE"])  # unknown exchanges are passed over
    assert outcome.status == "COMPLETED", outcome.error_message
    assert outcome.trades_count > 0  # the ledger saw round trips
    assert outcome.metrics["benchmark"]["beta"] is not None  # empyrical ran against the benchmark
    assert outcome.manifest is not None
    assert outcome.manifest["trades_sha256"]


async def test_a_backtest_that_runs_during_the_warm_up_completes_too() -> None:
    """A request that arrives during the warm-up runs alongside its synthetic run (two Nautilus runs, two
    threads of one process)."""
    warm, request = await asyncio.gather(
        asyncio.to_thread(warm_engine, ["NASDAQ"]), asyncio.to_thread(warm_engine, ["NYSE"])
    )
    assert (warm.status, request.status) == ("COMPLETED", "COMPLETED")
    assert warm.metrics == request.metrics  # same sessions, same prices: the runs did not disturb each other


async def test_the_engine_warm_up_leaves_the_rest_to_a_backtest_that_came_first() -> None:
    BACKTEST_STARTED.set()
    try:
        with capture_logs() as logs:
            alone = await warm_up_engine(None)  # type: ignore[arg-type]  # no database read: it stops before
    finally:
        BACKTEST_STARTED.clear()
    assert [e["event"] for e in logs] == ["warm-up cut short: a backtest came first"]
    assert alone is False  # so nothing is frozen: the running backtest's objects must stay collectable


async def test_a_warm_up_that_work_came_before_freezes_nothing() -> None:
    async def warm() -> bool:
        return False

    logs = await _logs_of_warm_up(warm)
    done = [e for e in logs if e["event"].startswith("warmed up in ")]
    assert len(done) == 1
    assert done[0]["frozen_objects"] == 0
    assert gc.get_freeze_count() == 0


def test_the_reporting_warm_up_renders_every_report_of_a_completed_run(tmp_path: Path) -> None:
    folder = tmp_path / "reports" / ".warm-up"
    folder.mkdir(parents=True)
    (folder / "left-by-a-killed-warm-up.html").write_text("<html>")
    assert warm_reporting(folder) == ["HTML", "CSV", "CSV", "JSON"]
    assert not folder.exists()  # nothing left behind, not even a former start's files


# What each service must not import before it is ready: the warm-up (or the first message) loads it.
LOADED_AFTER_READY = {
    "engine": ("nautilus_trader", "empyrical", "scipy", "plotly", "exchange_calendars", "pandas", "numpy"),
    "reporting": ("nautilus_trader", "empyrical", "scipy", "plotly", "jinja2", "pandas", "numpy"),
    "api": ("nautilus_trader", "empyrical", "scipy", "plotly", "pandas", "numpy"),
    "ingest": ("nautilus_trader", "plotly", "exchange_calendars", "pandas", "numpy", "ib_async"),
}


@pytest.mark.parametrize("service", sorted(LOADED_AFTER_READY))
def test_a_service_starts_without_the_libraries_only_its_messages_need(service: str) -> None:
    listing = f"import json, sys, services.{service}.app; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", listing], capture_output=True, text=True, timeout=120, check=True)
    loaded = {m.split(".")[0] for m in json.loads(done.stdout)}
    assert "fastapi" in loaded  # the check is not vacuous: the service's own stack is there
    assert sorted(loaded & set(LOADED_AFTER_READY[service])) == []
