"""Faults: every job ends, and `bts up` supervises its services (the stack as a user runs it).

(a) `bts up` is interrupted (SIGINT) once the first of 30 submitted backtests ended, and started again on
    the same state dir: its embedded broker lost the queued requests, the gateway requests them again.
(b) the engine, then reporting, then ingest are killed (SIGKILL) with work in hand: the supervisor starts each
    again, and the work finishes (a RUNNING run is taken over).
(c) an ingest.requested that ingest gives up on (dead-lettered) ends its import job FAILED with the reason.

After each, the shared invariants settle (every job terminal, nothing duplicated, every COMPLETED result
reported); the recovery times are printed (`pytest -s`). Bounds are generous: the machine is shared.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bts.stackfile import StackFile, read_stack
from shared.contracts import topics
from shared.contracts.events import IngestRequested, make_event
from shared.contracts.models import DataSource, Timeframe
from shared.platform.db.urls import asyncpg_dsn
from tests.faults.invariants import settled
from tests.integration.clients import Api
from tests.integration.conftest import publish
from tests.integration.market import load_daily_symbols, write_daily_csv
from tests.integration.stack import started_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

SYMBOLS = ("JEA", "JEB", "SPY")
USERS, PER_USER = 5, 6  # (a): 30 backtests, spread over the users' partitions
SETTLE_WITHIN_S = 300.0  # generous: 2 shared cores; the defaults aim at recovery within 30-60 s


@dataclass
class Interrupted:
    ids: list[str]
    open_at_restart: int = 0  # backtests not terminal when the second `bts up` was ready


def _query(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def _until(condition: Callable[[], bool], what: str, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _strategy(api: Api) -> str:
    body = {
        "name": f"jobs-end-{uuid.uuid4().hex[:6]}",
        "strategy_type": "SMA_CROSSOVER",
        "parameters": {"fast_period": 5, "slow_period": 20},
    }
    created = api.http.post("/strategies", json=body)
    assert created.status_code == 201, created.text
    strategy_id: str = created.json()["id"]
    assert api.http.post(f"/strategies/{strategy_id}/activate").status_code == 200
    return strategy_id


def _submit(api: Api, count: int, instruments: list[str]) -> list[str]:
    strategy_id = _strategy(api)
    ids = []
    for n in range(count):
        body = {
            "strategy_id": strategy_id,
            "instrument_ids": instruments,
            "start_date": f"2020-0{1 + n % 3}-01",
            "end_date": "2021-12-31",
        }
        accepted = api.http.post("/backtests", json=body)
        assert accepted.status_code == 202, accepted.text
        ids.append(accepted.json()["id"])
    return ids


def _pid(state: Path, service: str) -> int:
    stack = read_stack(state)
    assert stack is not None
    return next(s.pid for s in stack.services if s.name == service)


def _kill_and_wait_for_restart(state: Path, service: str) -> None:
    """SIGKILL `service` (frozen first by the caller or not) and wait until the supervisor started it again."""
    old = _pid(state, service)
    os.kill(old, signal.SIGKILL)
    _until(lambda: _pid(state, service) != old, f"the supervisor to restart {service}", within=60)


def _log_of(state: Path, service: str) -> str:
    return (state / "logs" / f"{service}.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs-end-state")


@pytest.fixture(scope="module")
def interrupted(state: Path, tmp_path_factory: pytest.TempPathFactory) -> Interrupted:
    """The first `bts up`: data loaded, 30 backtests submitted, then SIGINT a second after the first ended."""
    with started_stack(state) as first:
        asyncio.run(load_daily_symbols(first.database_url, tmp_path_factory.mktemp("jobs-end-data"), SYMBOLS))
        ids: list[str] = []
        for n in range(USERS):
            api = Api(first, f"queued{n}")
            ids += _submit(api, PER_USER, ["JEA.NASDAQ"])
            api.http.close()
        # interrupted mid-queue: the first runs done, one running, the rest queued
        done = "SELECT 1 FROM engine.backtest_results WHERE id = ANY($1::uuid[]) AND status = 'COMPLETED'"
        _until(lambda: bool(_query(first.database_url, done, ids)), "the first backtest to complete", within=120)
        time.sleep(1)
        os.kill(first.pid, signal.SIGINT)
        _until(lambda: read_stack(state) is None, "bts up to stop after SIGINT", within=90)
    return Interrupted(ids)


@pytest.fixture(scope="module")
def stack(state: Path, interrupted: Interrupted) -> Iterator[StackFile]:
    """The second `bts up`, on the same state dir: it serves every test of the module."""
    with started_stack(state) as again:
        rows = _query(
            again.database_url,
            "SELECT count(*) FROM api.backtest_status "
            "WHERE id = ANY($1::uuid[]) AND status NOT IN ('COMPLETED', 'FAILED')",
            interrupted.ids,
        )
        interrupted.open_at_restart = int(rows[0][0])
        yield again


@pytest.fixture(scope="module")
def admin(stack: StackFile) -> Iterator[Api]:
    api = Api(stack, "jobs-admin", admin=True)
    yield api
    api.http.close()


def test_a_restart_after_sigint_finishes_every_queued_backtest(stack: StackFile, interrupted: Interrupted) -> None:
    assert interrupted.open_at_restart > 0, "every backtest ended before the interruption: nothing was tested"
    took = asyncio.run(settled(stack.database_url, within_s=SETTLE_WITHIN_S))
    print(f"\nRECOVERY sigint-restart ({interrupted.open_at_restart} of {len(interrupted.ids)} open): {took:.1f} s")
    rows = _query(
        stack.database_url,
        "SELECT status, count(*) FROM api.backtest_status WHERE id = ANY($1::uuid[]) GROUP BY status",
        interrupted.ids,
    )
    assert {r["status"]: r["count"] for r in rows} == {"COMPLETED": len(interrupted.ids)}


def test_b1_engine_killed_mid_run_is_restarted_and_the_run_taken_over(stack: StackFile, state: Path) -> None:
    api = Api(stack, "engine-kill")
    ids = _submit(api, 4, ["JEA.NASDAQ", "JEB.NASDAQ"])
    engine = _pid(state, "engine")
    running = "SELECT id FROM engine.backtest_results WHERE id = ANY($1::uuid[]) AND status = 'RUNNING' LIMIT 1"
    caught: list[uuid.UUID] = []

    def frozen_mid_run() -> bool:
        """The engine stopped (SIGSTOP) while a run is RUNNING, so it is killed with that run in hand."""
        rows = _query(stack.database_url, running, ids)
        if not rows:
            return False
        os.kill(engine, signal.SIGSTOP)
        if _query(stack.database_url, running, ids) == rows:
            caught.append(rows[0]["id"])
            return True
        os.kill(engine, signal.SIGCONT)  # it ended in between: the next one
        return False

    _until(frozen_mid_run, "a backtest to be running", within=180)
    started = time.monotonic()
    _kill_and_wait_for_restart(state, "engine")
    asyncio.run(settled(stack.database_url, within_s=SETTLE_WITHIN_S))
    took = time.monotonic() - started
    print(f"\nRECOVERY engine-kill-9: {took:.1f} s")
    rows = _query(stack.database_url, "SELECT status, attempts FROM engine.backtest_results WHERE id = $1", caught[0])
    assert (rows[0]["status"], rows[0]["attempts"]) == ("COMPLETED", 2)  # taken over once, then completed
    assert "restarting it in" in _log_of(state, "engine")
    api.http.close()


def test_b2_reporting_killed_with_work_in_hand_reports_every_result(stack: StackFile, state: Path) -> None:
    api = Api(stack, "reporting-kill")
    os.kill(_pid(state, "reporting"), signal.SIGSTOP)  # it holds the work it is given, and does none of it
    ids = _submit(api, 3, ["JEA.NASDAQ"])
    completed = "SELECT 1 FROM engine.backtest_results WHERE id = ANY($1::uuid[]) AND status = 'COMPLETED'"
    _until(lambda: bool(_query(stack.database_url, completed, ids)), "a backtest to complete", within=180)
    started = time.monotonic()
    _kill_and_wait_for_restart(state, "reporting")
    asyncio.run(settled(stack.database_url, within_s=SETTLE_WITHIN_S))
    took = time.monotonic() - started
    print(f"\nRECOVERY reporting-kill-9: {took:.1f} s")
    reported = _query(
        stack.database_url,
        "SELECT count(DISTINCT backtest_result_id) FROM reporting.performance_reports "
        "WHERE backtest_result_id = ANY($1::uuid[])",
        ids,
    )
    assert reported[0][0] == len(ids)
    api.http.close()


def test_b3_ingest_killed_with_an_import_in_hand_finishes_it(
    stack: StackFile, state: Path, admin: Api, tmp_path: Path
) -> None:
    path = tmp_path / "JEC.csv"
    write_daily_csv(path, seed=7)
    instrument = {
        "id": "JEC.NASDAQ",
        "symbol": "JEC",
        "exchange": "NASDAQ",
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": 1,
        "margin_requirement": "25",
    }
    assert admin.http.post("/instruments", json=instrument).status_code in (201, 409)
    os.kill(_pid(state, "ingest"), signal.SIGSTOP)
    with path.open("rb") as file:
        accepted = admin.http.post(
            "/market-data/import",
            files={"file": (path.name, file, "text/csv")},
            data={"instrument_id": "JEC.NASDAQ", "timeframe": "BAR_DAILY"},
        )
    assert accepted.status_code == 202, accepted.text
    time.sleep(2)  # the request reaches ingest's consumer (or not): either way it is in flight
    started = time.monotonic()
    _kill_and_wait_for_restart(state, "ingest")
    job = admin.wait(f"/market-data/import/{accepted.json()['job_id']}", {"COMPLETED", "FAILED"}, within=240)
    asyncio.run(settled(stack.database_url, within_s=SETTLE_WITHIN_S))
    took = time.monotonic() - started
    print(f"\nRECOVERY ingest-kill-9: {took:.1f} s")
    assert job["status"] == "COMPLETED", job
    assert job["rows_loaded"] == 505


def test_c_a_given_up_import_request_ends_its_job_failed(stack: StackFile, state: Path, admin: Api) -> None:
    job_id = uuid.uuid4()
    _query(
        stack.database_url,
        "INSERT INTO api.import_jobs (id, user_id, instrument_id, timeframe, source, status) "
        "VALUES ($1, $2, 'JEA.NASDAQ', 'BAR_DAILY', 'CSV_FILE', 'PENDING')",
        job_id,
        admin.user_id,
    )
    # A claim check no handler can open (a NUL in the path): the handler fails each attempt, the message is
    # dead-lettered, and ingest gives up on the job.
    poison = IngestRequested(
        job_id=job_id,
        user_id=admin.user_id,
        source=DataSource.CSV_FILE,
        instrument_id="JEA.NASDAQ",
        timeframe=Timeframe.BAR_DAILY,
        file_uri=f"file://{(state / 'uploads').resolve()}/poison%00.csv",
    )
    event = make_event(topics.INGEST_REQUESTED, poison, source="test/faults", subject=str(job_id))
    started = time.monotonic()
    asyncio.run(publish(stack.kafka_bootstrap, [(event, "JEA.NASDAQ")]))
    job = admin.wait(f"/market-data/import/{job_id}", {"COMPLETED", "FAILED"}, within=180)
    took = time.monotonic() - started
    print(f"\nRECOVERY poison-ingest-request (dead-lettered): {took:.1f} s")
    assert job["status"] == "FAILED", job
    assert "gave up" in job["error_message"], job
    asyncio.run(settled(stack.database_url, within_s=SETTLE_WITHIN_S))
