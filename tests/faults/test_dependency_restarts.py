"""The database and the broker restart while the services work: every service says it is not ready
(503, naming the failing check) while the dependency is down and ready again after; the services
reconnect with backoff and finish the work; nothing is lost, nothing runs twice, nothing is
dead-lettered, and what was announced into the outbox during the outage is published after it.

The broker runs with Tansu's s3:// storage (on moto's S3 server), not memory://: a restarted
memory:// broker comes back empty (no topics, no committed offsets), so the requests still queued in
it would be gone and the test could only prove reconnection. With durable storage, as Apache Kafka has
in production, it proves what an operator cares about: the work queued in the broker and the work in
flight in a service both finish after the restart, exactly once.

The database is the embedded PostgreSQL, stopped (fast shutdown: open transactions roll back) and
started again on the same port and data directory.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.api.users import new_key_for
from shared.contracts import topics
from shared.platform.db.urls import asyncpg_dsn
from tests.faults.stack_control import (
    LiveStack,
    backtest_event,
    engine_frozen_mid_run,
    environment,
    ingest_event,
    live_stack,
    message,
    register_instrument,
    s3_endpoint,
    until,
)
from tests.integration.market import load_daily_symbols, register_owners, write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

TRADED = "RSA.NASDAQ"
OUTAGE_S = 3.0  # long enough for several retries of every service (backoff 0.5, 1, 2 s)
END = date(2020, 6, 30)  # half a year of daily bars: short runs, the test is about the outage


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with (
        s3_endpoint() as aws,
        environment(aws),
        live_stack(tmp_path_factory.mktemp("restart-state"), tansu_storage="s3://tansu/") as started,
    ):
        asyncio.run(
            load_daily_symbols(
                started.database_url,
                tmp_path_factory.mktemp("restart-data"),
                ("RSA", "SPY"),
                start="2020-01-01",
                end=END.isoformat(),
            )
        )
        yield started


def _requests(count: int) -> list[Any]:
    users = [uuid.uuid4(), uuid.uuid4()]
    return [backtest_event(users[n % 2], [TRADED], end=END) for n in range(count)]


def _not_ready_because(answers: dict[str, tuple[int, dict[str, Any]]], check: str) -> None:
    for service, (code, body) in answers.items():
        assert code == 503, (service, body)
        assert body["ready"] is False, (service, body)
        assert body["checks"][check].startswith("failed: "), (service, body)


def _logged(stack: LiveStack, service: str, event: str) -> int:
    count = 0
    for line in stack.service(service).log_path.read_text(errors="replace").splitlines():
        if line.startswith("{") and json.loads(line).get("event") == event:
            count += 1
    return count


async def _finished_exactly_once(stack: LiveStack, requests: list[Any]) -> None:
    ids = [e.data.backtest_id for e in requests]

    async def all_reported() -> bool:
        done = await stack.fetchval(
            "SELECT count(*) FROM api.backtest_status WHERE id = ANY($1::uuid[]) AND status = 'COMPLETED'", ids
        )
        reports = await stack.fetchval(
            "SELECT count(*) FROM reporting.performance_reports WHERE backtest_result_id = ANY($1::uuid[])", ids
        )
        return bool(done == len(ids) and reports == 4 * len(ids))

    await until(all_reported, "every backtest completed, reported and shown by the gateway", within=240)
    await stack.wait_settled(within=120)
    rows = await stack.fetch(
        "SELECT r.id, r.status, r.trades_count + r.open_trades AS trades_count, (SELECT count(*) FROM engine.trades t "
        "WHERE t.backtest_result_id = r.id) AS trades FROM engine.backtest_results r WHERE r.id = ANY($1::uuid[])",
        ids,
    )
    assert len(rows) == len(ids)
    for row in rows:
        assert row["status"] == "COMPLETED", dict(row)
        assert row["trades"] == row["trades_count"] > 0, dict(row)  # each trade (closed or open) written once
    announced = await stack.fetch(
        "SELECT payload->'data'->>'backtest_id' AS id, payload->'data' AS data FROM engine.outbox "
        "WHERE topic = $1 AND (payload->'data'->>'backtest_id')::uuid = ANY($2)",
        topics.BACKTEST_COMPLETED,
        ids,
    )
    outcomes: dict[str, set[str]] = {}
    for row in announced:
        outcomes.setdefault(row["id"], set()).add(row["data"])
    assert sorted(outcomes) == sorted(map(str, ids))  # each announced
    assert all(len(data) == 1 for data in outcomes.values()), outcomes  # ... with one outcome: it ran once
    # More than one announcement of a run is only the designed recovery: the gateway still waited for it
    # after reconcile_stale_after_s (a consumer that rejoined after the outage was slow to read), asked for it
    # again, and the engine announced the same end again (docs/reliability.md).
    again = len(announced) - len(ids)
    assert again <= _logged(stack, "engine", "backtest already done; its end announced again"), again
    for topic in topics.ALL_TOPICS:  # nothing was dead-lettered: an outage is not the message's fault
        assert await stack.dead_letters(topic) == [], topic
    stack.assert_services_alive()


def test_database_restart_during_work(stack: LiveStack, tmp_path: Path) -> None:
    before = _requests(4)
    during = _requests(2)
    uploads = stack.state_dir / "uploads"
    uploads.mkdir(exist_ok=True)
    csv = uploads / "rsc.csv"
    write_daily_csv(csv, seed=11, start="2020-01-01", end="2020-12-31")
    asyncio.run(register_instrument(stack.database_url, "RSC.NASDAQ"))
    asyncio.run(register_owners(stack.database_url, [e.data for e in before + during]))
    ingest = ingest_event("RSC.NASDAQ", csv)

    asyncio.run(stack.send([message(e, str(e.data.user_id)) for e in before]))
    with engine_frozen_mid_run(stack, [e.data.backtest_id for e in before]):
        stack.postgres.stop()  # while a backtest is in flight
    try:
        _not_ready_because(stack.wait_ready_state(ready=False, within=30), "database")
        # work keeps arriving while the database is away: it waits, it is not dead-lettered
        asyncio.run(stack.send([message(e, str(e.data.user_id)) for e in during] + [message(ingest, "RSC.NASDAQ")]))
        time.sleep(OUTAGE_S)
        stack.assert_services_alive()
    finally:
        stack.postgres.start()
    answers = stack.wait_ready_state(ready=True, within=60)
    assert all(body["checks"] == {"database": "ok", "kafka": "ok", "migrations": "ok"} for _, body in answers.values())

    asyncio.run(_finished_exactly_once(stack, before + during))
    bars = asyncio.run(stack.fetchval("SELECT count(*) FROM ingest.market_data WHERE instrument_id = 'RSC.NASDAQ'"))
    assert bars == len(csv.read_text().splitlines()) - 1
    assert _logged(stack, "engine", "dependency unavailable, handler will retry") > 0  # it waited, then went on


def test_broker_restart_during_work(stack: LiveStack, tmp_path: Path) -> None:
    requests = _requests(4)

    async def api_key() -> str:
        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
        try:
            return (await new_key_for(conn, "restarts", admin=True)).api_key  # admin: the instruments have no owner
        finally:
            await conn.close()

    key = asyncio.run(api_key())
    asyncio.run(register_instrument(stack.database_url, "RSD.NASDAQ"))
    asyncio.run(register_owners(stack.database_url, [e.data for e in requests]))
    csv = tmp_path / "rsd.csv"
    write_daily_csv(csv, seed=12, start="2020-01-01", end="2020-12-31")

    asyncio.run(stack.send([message(e, str(e.data.user_id)) for e in requests]))
    with engine_frozen_mid_run(stack, [e.data.backtest_id for e in requests]):
        stack.tansu.stop()  # while a backtest is in flight
    try:
        _not_ready_because(stack.wait_ready_state(ready=False, within=30), "kafka")

        async def announced_but_unpublished() -> bool:  # the run in flight finished: its event waits
            return (await stack.unpublished_outbox())["engine"] > 0

        asyncio.run(until(announced_but_unpublished, "an outbox row waiting for the broker", within=120))
        # the gateway takes new work meanwhile: its request waits in the outbox too
        response = httpx.post(
            stack.stack.settings.api_url + "/api/v1/market-data/import",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
            data={"instrument_id": "RSD.NASDAQ", "timeframe": "BAR_DAILY"},
            files={"file": ("rsd.csv", csv.read_bytes())},
        )
        assert response.status_code == 202, response.text
        job = uuid.UUID(response.json()["job_id"])
        # (other rows may wait too: the reconciler requests the frozen runs again meanwhile)
        waiting = "SELECT count(*) FROM api.outbox WHERE published_at IS NULL AND topic = 'ingest.requested'"
        assert asyncio.run(stack.fetchval(waiting)) == 1
        time.sleep(OUTAGE_S)
        stack.assert_services_alive()
    finally:
        stack.tansu.start()
    stack.wait_ready_state(ready=True, within=60)

    asyncio.run(_finished_exactly_once(stack, requests))

    async def imported() -> bool:
        return await stack.fetchval("SELECT status FROM api.import_jobs WHERE id = $1", job) == "COMPLETED"

    asyncio.run(until(imported, "the upload accepted during the outage loaded", within=120))
