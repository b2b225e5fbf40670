"""Who may do what, on a real `bts up` stack: shared instruments are written by their owner or an admin
only (REST, CLI and ingest.requested straight on Kafka); API keys are created, listed and revoked (refused at
once); a client that keeps sending wrong keys gets 429; event streams end with an `end` event, or an `idle`
one after BTS_SSE_IDLE_S, with keep-alive comments meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bts.stackfile import StackFile
from shared.contracts import topics
from shared.contracts.events import IngestRequested, make_event
from shared.contracts.models import DataSource, Timeframe
from shared.platform.db.reads import writer_refused
from shared.platform.db.urls import asyncpg_dsn
from tests.integration.clients import PROBLEM, Api, bts, nasdaq_instrument, server_sent_events
from tests.integration.conftest import publish, wait_for_events
from tests.integration.market import write_daily_csv
from tests.integration.stack import started_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]
FAILURES_ALLOWED = 5  # wrong keys a client may send per minute here (default 20): keeps the test short
IDLE_S, KEEPALIVE_S = 3.0, 1.0  # defaults 300 s and 15 s


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StackFile, Path]]:
    state = tmp_path_factory.mktemp("access-state")
    settings = {
        "BTS_AUTH_FAILURES_MAX": str(FAILURES_ALLOWED),
        "BTS_SSE_IDLE_S": str(IDLE_S),
        "BTS_SSE_KEEPALIVE_S": str(KEEPALIVE_S),
    }
    with started_stack(state, settings) as running:
        yield running, state


@pytest.fixture(scope="module")
def alice(stack: tuple[StackFile, Path]) -> Iterator[Api]:
    api = Api(stack[0], "alice")
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def bob(stack: tuple[StackFile, Path]) -> Iterator[Api]:
    api = Api(stack[0], "bob")
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def admin(stack: tuple[StackFile, Path]) -> Iterator[Api]:
    api = Api(stack[0], "operator", admin=True)
    yield api
    api.http.close()


def _upload(api: Api, instrument: str, path: Path) -> httpx.Response:
    with path.open("rb") as file:
        form = {"instrument_id": instrument, "timeframe": "BAR_DAILY"}
        return api.http.post("/market-data/import", files={"file": (path.name, file, "text/csv")}, data=form)


def _refused(response: httpx.Response, instrument: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == writer_refused(instrument)


def test_only_the_owner_or_an_admin_writes_a_sharednasdaq_instrument(
    stack: tuple[StackFile, Path], alice: Api, bob: Api, admin: Api, tmp_path: Path
) -> None:
    running, _ = stack
    assert alice.http.post("/instruments", json=nasdaq_instrument("OWNA")).status_code == 201
    path = tmp_path / "OWNA.csv"
    write_daily_csv(path, 5)

    _refused(bob.http.post("/instruments", json=nasdaq_instrument("OWNA", tick_size="0.05")), "OWNA.NASDAQ")
    _refused(_upload(bob, "OWNA.NASDAQ", path), "OWNA.NASDAQ")
    ib = {"instrument_id": "OWNA.NASDAQ", "timeframe": "BAR_DAILY", "start": "2020-01-01", "end": "2020-02-01"}
    _refused(bob.http.post("/market-data/ibkr", json=ib), "OWNA.NASDAQ")
    assert bob.http.get("/instruments/OWNA.NASDAQ").json()["tick_size"] == "0.01"  # reading stays open, unchanged

    overwritten = alice.http.post("/instruments", json=nasdaq_instrument("OWNA", margin_requirement="30"))
    assert overwritten.status_code == 200, overwritten.text  # the owner overwrites
    assert admin.http.post("/instruments", json=nasdaq_instrument("OWNA", margin_requirement="40")).status_code == 200
    assert bob.http.get("/instruments/OWNA.NASDAQ").json()["margin_requirement"] == "40"
    for writer in (alice, admin):
        accepted = _upload(writer, "OWNA.NASDAQ", path)
        assert accepted.status_code == 202, accepted.text
        assert writer.wait(f"/market-data/import/{accepted.json()['job_id']}", {"COMPLETED", "FAILED"})["status"] == (
            "COMPLETED"
        )
    # an instrument registered before owners existed (no owner): admins only
    asyncio.run(_register_without_owner(running, "OLDI.NASDAQ"))
    _refused(alice.http.post("/instruments", json=nasdaq_instrument("OLDI")), "OLDI.NASDAQ")
    assert admin.http.post("/instruments", json=nasdaq_instrument("OLDI")).status_code == 200

    # the CLI says why in one line
    refused = bts("instrument", "add", "OWNA.NASDAQ", env={"BTS_API_URL": running.api_url, "BTS_API_KEY": bob.key})
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "only its owner or an admin" in refused.stderr


async def _register_without_owner(stack: StackFile, instrument: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        await conn.execute(
            "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
            "trading_hours, margin_requirement) VALUES ($1, $2, 'NASDAQ', 'EQUITY', 'USD', 0.01, 1, '{}', 25)",
            instrument,
            instrument.split(".")[0],
        )
    finally:
        await conn.close()


def test_ingest_requested_straight_on_kafka_is_checked_too(stack: tuple[StackFile, Path], alice: Api, bob: Api) -> None:
    running, state = stack
    assert alice.http.post("/instruments", json=nasdaq_instrument("KAFA")).status_code == 201
    path = state / "uploads" / f"{uuid.uuid4()}.csv"  # a proper claim check: only the user is wrong
    path.parent.mkdir(exist_ok=True)
    write_daily_csv(path, 6)
    mine, theirs = (
        IngestRequested(
            job_id=uuid.uuid4(),
            user_id=user,
            source=DataSource.CSV_FILE,
            instrument_id="KAFA.NASDAQ",
            timeframe=Timeframe.BAR_DAILY,
            file_uri=path.as_uri(),
        )
        for user in (alice.user_id, bob.user_id)
    )
    events = [
        (make_event(topics.INGEST_REQUESTED, r, source="test/outside", subject=str(r.job_id)), "KAFA.NASDAQ")
        for r in (theirs, mine)
    ]
    asyncio.run(publish(running.kafka_bootstrap, events))
    failed = asyncio.run(wait_for_events(running.kafka_bootstrap, topics.INGEST_FAILED, {str(theirs.job_id)}))
    assert failed[0].data.error == writer_refused("KAFA.NASDAQ")
    loaded = asyncio.run(wait_for_events(running.kafka_bootstrap, topics.BARS_LOADED, {"KAFA.NASDAQ"}))
    assert loaded[0].data.job_id == mine.job_id  # the owner's own request went through


def test_keys_are_created_listed_and_revoked_at_once(stack: tuple[StackFile, Path], alice: Api, bob: Api) -> None:
    running, _ = stack
    created = alice.http.post("/keys")
    assert created.status_code == 201, created.text
    key_id, new_key = created.json()["key_id"], created.json()["api_key"]
    with httpx.Client(base_url=running.api_url + "/api/v1", headers={"Authorization": f"Bearer {new_key}"}) as spare:
        assert spare.get("/strategies").status_code == 200  # works, and is now in the gateway's key cache
        listed = {k["key_id"]: k for k in alice.http.get("/keys").json()["items"]}
        assert len(listed) == 2
        assert key_id in listed
        assert all("api_key" not in k and "key_hash" not in k for k in listed.values())
        assert listed[key_id]["last_used_at"] is not None
        assert listed[key_id]["revoked_at"] is None

        assert bob.http.delete(f"/keys/{key_id}").status_code == 404  # not bob's
        assert spare.get("/strategies").status_code == 200
        assert alice.http.delete(f"/keys/{key_id}").status_code == 204
        refused = spare.get("/strategies")  # at once: the cache forgot it
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == PROBLEM
        refused_again = spare.get(f"/backtests/{uuid.uuid4()}")  # the finished-reads fast path too
        assert refused_again.status_code == 401
    assert {k["key_id"]: k for k in alice.http.get("/keys").json()["items"]}[key_id]["revoked_at"] is not None
    assert alice.http.get("/strategies").status_code == 200  # her first key is untouched

    env = {"BTS_API_URL": running.api_url, "BTS_API_KEY": bob.key}
    made = bts("key", "create", "--json", env=env)
    assert made.returncode == 0, made.stderr
    made_id = json.loads(made.stdout)["key_id"]
    listed_cli = json.loads(bts("key", "list", "--json", env=env).stdout)
    assert made_id in {k["key_id"] for k in listed_cli}
    revoked = bts("key", "revoke", made_id, env=env)
    assert revoked.returncode == 0, revoked.stderr
    gone = bts("key", "list", env={**env, "BTS_API_KEY": json.loads(made.stdout)["api_key"]})
    assert gone.returncode == 1
    assert "401" in gone.stderr


async def _insert_status(stack: StackFile, user: uuid.UUID) -> uuid.UUID:
    backtest_id = uuid.uuid4()
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        await conn.execute(
            "INSERT INTO api.backtest_status (id, user_id, status) VALUES ($1, $2, 'PENDING')", backtest_id, user
        )
    finally:
        await conn.close()
    return backtest_id


async def _fail_later(stack: StackFile, backtest_id: uuid.UUID, after_s: float) -> None:
    await asyncio.sleep(after_s)
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        await conn.execute(
            "UPDATE api.backtest_status SET status = 'FAILED', error_message = 'broken on purpose', "
            "updated_at = now() WHERE id = $1",
            backtest_id,
        )
    finally:
        await conn.close()


def test_event_streams_end_with_a_final_event_or_close_when_idle(stack: tuple[StackFile, Path], alice: Api) -> None:
    running, _ = stack
    quiet = asyncio.run(_insert_status(running, alice.user_id))  # PENDING, and nothing will change it
    started = time.monotonic()
    events = server_sent_events(alice, f"/backtests/{quiet}/events", within=60)
    took = time.monotonic() - started
    names = [name for name, _ in events]
    assert names[0] == "status", names
    assert names[-1] == "idle", names
    assert names.count("comment") >= 1  # keep-alive while idle
    assert events[-1][1]["status"] == "PENDING"
    assert IDLE_S <= took < IDLE_S + 10, took  # closed after the idle time (10 s slack on a busy machine)

    failing = asyncio.run(_insert_status(running, alice.user_id))

    async def follow() -> list[tuple[str, Any]]:
        fail = asyncio.create_task(_fail_later(running, failing, 1.0))
        events = await asyncio.to_thread(server_sent_events, alice, f"/backtests/{failing}/events", 60)
        await fail
        return events

    events = asyncio.run(follow())
    assert [n for n, _ in events if n != "comment"][-1] == "end"
    assert events[-1][1] == {
        "id": str(failing),
        "status": "FAILED",
        "error_message": "broken on purpose",
        "result": None,
    }


def test_repeated_wrong_keys_get_429_but_valid_keys_still_pass(stack: tuple[StackFile, Path], alice: Api) -> None:
    """Last in this module: afterwards this client's wrong keys are answered 429 for a minute."""
    running, _ = stack
    with httpx.Client(base_url=running.api_url + "/api/v1") as http:
        statuses = [
            http.get("/strategies", headers={"Authorization": f"Bearer bts_wrong_{n}"}).status_code
            for n in range(FAILURES_ALLOWED + 3)
        ]
        assert 401 in statuses[:FAILURES_ALLOWED], statuses
        assert statuses[-3:] == [429, 429, 429], statuses
        throttled = http.get("/strategies", headers={"Authorization": "Bearer bts_wrong_again"})
        assert throttled.status_code == 429
        assert throttled.headers["content-type"] == PROBLEM
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        assert alice.http.get("/strategies").status_code == 200  # a valid key from the same client passes
