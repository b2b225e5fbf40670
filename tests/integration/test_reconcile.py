"""The reconcilers against the real database: the gateway requests a stale job again from its outbox
(backing off), fails one whose request is found nowhere; the engine fails a run taken over too often, and
one whose request was given up on; ingest ends an import taken over too often; reporting reports a COMPLETED
result whose event it never got."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.api.reconcile import LOST_BACKTEST, requeue_backtests
from services.api.repository.requeue import remember_outside_request
from services.api.users import create_user
from services.engine import repository
from services.engine.backtest_job import fail_given_up, run_job
from services.engine.handlers import announcer
from services.ingest.handlers import IngestHandler
from services.ingest.import_runs import ImportRuns
from services.reporting.reconcile import ReportReconciler, RetryPolicy
from shared.contracts import topics
from shared.devstack.stack import Endpoints
from shared.platform.db.urls import asyncpg_dsn, role_url
from shared.platform.kafka.outbox import enqueue
from shared.platform.kafka.producer import EventPublisher
from tests.conftest import ROLE_PASSWORD
from tests.faults.stack_control import backtest_event, ingest_event
from tests.integration.market import backtest_job, load_daily_symbols

pytestmark = pytest.mark.integration

STALE_S = 20.0


async def _pending(conn: asyncpg.Connection, user: uuid.UUID, idle: timedelta, now: datetime) -> uuid.UUID:
    backtest_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO api.backtest_status (id, user_id, status, submitted_at, updated_at) VALUES ($1, $2, 'PENDING', "
        "$3, $3)",
        backtest_id,
        user,
        now - idle,
    )
    return backtest_id


async def _requests(conn: asyncpg.Connection, backtest_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT event_id, key, payload -> 'data' AS data FROM api.outbox WHERE topic = $1 "
            "AND payload -> 'data' ->> 'backtest_id' = $2 ORDER BY id",
            topics.BACKTEST_REQUESTED,
            str(backtest_id),
        )
    )


async def test_a_stale_backtest_is_requested_again_with_backoff_and_a_lost_one_fails(
    admin_conn: asyncpg.Connection, connect_as: Callable[[str], Awaitable[asyncpg.Connection]]
) -> None:
    user = (await create_user(admin_conn, f"reconcile-{uuid.uuid4().hex[:6]}")).user_id
    api = await connect_as("api")
    now = datetime.now(UTC)
    try:
        queued = await _pending(api, user, timedelta(minutes=1), now)
        event = backtest_event(user, ["NOPE.NASDAQ"], backtest_id=queued)
        await enqueue(api, "api", event, key=str(user))
        await api.execute("UPDATE api.outbox SET published_at = now() WHERE event_id = $1", event.id)
        outside = await _pending(api, user, timedelta(minutes=1), now)  # sent by an outside producer, kept
        await remember_outside_request(api, backtest_event(user, ["NOPE.NASDAQ"], backtest_id=outside).data)
        lost = await _pending(api, user, timedelta(hours=1), now)
        young_lost = await _pending(api, user, timedelta(seconds=30), now)

        async def reconcile(at: datetime) -> None:
            async with api.transaction():
                await requeue_backtests(api, at, STALE_S, limit=10_000)
            # relayed (no relay runs here): a copy not relayed yet is left to the relay, not copied again
            await api.execute("UPDATE api.outbox SET published_at = now() WHERE published_at IS NULL")

        await reconcile(now)
        sent = await _requests(api, queued)
        assert len(sent) == 2  # the original and its copy: a new event, the same request and key
        assert sent[1]["event_id"] != sent[0]["event_id"]
        assert (sent[1]["data"], sent[1]["key"]) == (sent[0]["data"], sent[0]["key"])
        assert len(await _requests(api, outside)) == 1  # from the request the read model kept
        status = {
            r["id"]: r
            for r in await api.fetch(
                "SELECT id, status, error_message FROM api.backtest_status WHERE id = ANY($1::uuid[])",
                [queued, lost, young_lost],
            )
        }
        assert status[queued]["status"] == "PENDING"
        assert (status[lost]["status"], status[lost]["error_message"]) == ("FAILED", LOST_BACKTEST)
        assert status[young_lost]["status"] == "PENDING"  # not yet waited the longest

        await reconcile(now + timedelta(seconds=STALE_S + 1))  # after one request, it waits twice as long
        assert len(await _requests(api, queued)) == 2
        await reconcile(now + timedelta(seconds=2 * STALE_S + 1))
        assert len(await _requests(api, queued)) == 3
    finally:
        await api.close()


async def test_a_run_taken_over_too_often_fails_with_the_reason(migrated: Endpoints) -> None:
    job = backtest_job(["NOPE.NASDAQ"], "SPY")
    pool = await asyncpg.create_pool(
        asyncpg_dsn(role_url(migrated.database_url, "engine", ROLE_PASSWORD)), min_size=1, max_size=2
    )
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await repository.claim_result(conn, job.backtest_id, job.configuration_id, job.user_id, job.request)
            await conn.execute(
                "UPDATE engine.backtest_results SET status = 'RUNNING', attempts = 4 WHERE id = $1", job.backtest_id
            )
        outcome = await run_job(pool, job, max_takeovers=3)
        assert outcome.status == "FAILED"
        assert "started 4 times" in (outcome.error_message or "")
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT status, error_message FROM engine.backtest_results WHERE id = $1", job.backtest_id
            )
        assert row is not None
        assert row["status"] == "FAILED"
        assert "taken over at most 3 times" in row["error_message"]
    finally:
        await pool.close()


async def test_a_given_up_request_fails_its_result_with_backtest_failed(migrated: Endpoints) -> None:
    job = backtest_job(["NOPE.NASDAQ"], "SPY")
    pool = await asyncpg.create_pool(
        asyncpg_dsn(role_url(migrated.database_url, "engine", ROLE_PASSWORD)), min_size=1, max_size=2
    )
    assert pool is not None
    try:
        announce = announcer(job, "test-correlation")
        assert await fail_given_up(pool, job, announce, "handler failed 3 times: boom")
        assert not await fail_given_up(pool, job, announce, "again")  # ended: nothing more
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT status, error_message FROM engine.backtest_results WHERE id = $1", job.backtest_id
            )
            events = await conn.fetch(
                "SELECT topic, payload -> 'data' ->> 'error_message' AS error FROM engine.outbox "
                "WHERE payload -> 'data' ->> 'backtest_id' = $1",
                str(job.backtest_id),
            )
        assert row is not None
        assert row["status"] == "FAILED"
        assert row["error_message"] == "the engine gave up on this request: handler failed 3 times: boom"
        assert [(e["topic"], e["error"]) for e in events] == [(topics.BACKTEST_FAILED, row["error_message"])]
    finally:
        await pool.close()


async def test_a_completed_result_without_reports_gets_them_once(migrated: Endpoints, tmp_path: Path) -> None:
    await load_daily_symbols(migrated.database_url, tmp_path, ("RCA", "RCB"))
    job = backtest_job(["RCA.NASDAQ"], "RCB")
    engine = await asyncpg.create_pool(asyncpg_dsn(role_url(migrated.database_url, "engine", ROLE_PASSWORD)))
    reporting = await asyncpg.create_pool(asyncpg_dsn(role_url(migrated.database_url, "reporting", ROLE_PASSWORD)))
    assert engine is not None
    assert reporting is not None
    try:
        assert (await run_job(engine, job)).status == "COMPLETED"  # its backtest.completed never reaches reporting
        reconcile = ReportReconciler(reporting, tmp_path / "reports", RetryPolicy(0.0, 3, timedelta(days=90)))
        later = datetime.now(UTC) + timedelta(seconds=1)
        await reconcile(later)
        await reconcile(later)  # found reported: nothing more
        async with reporting.acquire() as conn:
            rows = await conn.fetch(
                "SELECT report_type FROM reporting.performance_reports WHERE backtest_result_id = $1", job.backtest_id
            )
            events = await conn.fetchval(
                "SELECT count(*) FROM reporting.outbox WHERE payload -> 'data' ->> 'backtest_id' = $1",
                str(job.backtest_id),
            )
        assert sorted(r["report_type"] for r in rows) == ["CSV", "CSV", "HTML", "JSON"]
        assert events == 4  # one report.generated per file
    finally:
        await engine.close()
        await reporting.close()


async def test_an_import_taken_over_too_often_ends_with_ingest_failed(migrated: Endpoints, tmp_path: Path) -> None:
    pool = await asyncpg.create_pool(asyncpg_dsn(role_url(migrated.database_url, "ingest", ROLE_PASSWORD)))
    assert pool is not None
    event = ingest_event("NOPE.NASDAQ", tmp_path / "never-read.csv")
    try:
        jobs = IngestHandler(EventPublisher(migrated.kafka_bootstrap), tmp_path)
        runs = ImportRuns(pool, jobs, max_takeovers=3)
        async with pool.acquire() as conn:  # four processes started it, and each stopped mid-way
            await conn.execute(
                "INSERT INTO ingest.import_attempts (job_id, starts, instance) VALUES ($1, 4, $2)",
                event.data.job_id,
                uuid.uuid4(),
            )
        await runs(event)
        async with pool.acquire() as conn:
            errors = await conn.fetch(
                "SELECT topic, payload -> 'data' ->> 'error' AS error FROM ingest.outbox "
                "WHERE payload -> 'data' ->> 'job_id' = $1",
                str(event.data.job_id),
            )
            left = await conn.fetchval(
                "SELECT count(*) FROM ingest.import_attempts WHERE job_id = $1", event.data.job_id
            )
        assert [e["topic"] for e in errors] == [topics.INGEST_FAILED]
        assert "started by 5 ingest processes" in errors[0]["error"]
        assert left == 0
    finally:
        await pool.close()
