"""The gateway's reconciler: the database is the source of truth, the broker a transport.

The gateway owns the backtests and import jobs people asked for (api.backtest_status, api.import_jobs,
and through them the sweeps' children). On start and every `reconcile_every_s`, a job not terminal that
made no progress for `reconcile_stale_after_s` is requested again: its request, as the outbox sent it (or,
for an outside producer's backtest, as the read model or the engine kept it), is sent once more. The engine
and ingest recognise the work by its id: they run what they never saw, take over what their dead replica
left RUNNING, and announce again the end of what they finished. The wait doubles with each request again,
so a job merely queued behind others costs little. A request found nowhere fails its job once it has
waited the longest. A finished sweep with no report gets its sweep.completed sent again (a few times).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import structlog

from services.api.domain.read_models import next_backtest_view
from services.api.repository import backtests
from services.api.repository import requeue as repo
from services.api.repository.requeue import MAX_DOUBLINGS, StaleJob
from services.api.service_layer import SOURCE
from services.api.service_layer.sweep_flow import on_backtest_finished
from services.api.service_layer.unit_of_work import PostgresUnitOfWork
from shared.contracts import topics
from shared.contracts.events import BacktestFailed, BacktestRequested, make_event
from shared.platform.db.types import Connection
from shared.platform.kafka.outbox import enqueue
from shared.platform.kafka.resend import resend_latest
from shared.platform.runtime.metrics import JOBS_REQUESTED_AGAIN

LOST_BACKTEST = "its request was lost before any engine received it; submit it again"
LOST_IMPORT = "its request was lost before ingest received it; import the file again"
SWEEP_REPORT_REQUESTS = 3  # a sweep whose report still is not made after this is left to an operator
log = structlog.get_logger()


class Reconciler:
    """The periodic job (`shared.platform.runtime.schedule.PeriodicJob`'s work): how many jobs it requested again."""

    def __init__(self, pool: asyncpg.Pool, stale_after_s: float, batch: int = 200) -> None:
        self.pool, self.stale_after_s, self.batch = pool, stale_after_s, batch

    async def __call__(self, now: datetime) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            count = await requeue_backtests(conn, now, self.stale_after_s, self.batch)
        async with self.pool.acquire() as conn, conn.transaction():
            count += await requeue_imports(conn, now, self.stale_after_s, self.batch)
        async with self.pool.acquire() as conn, conn.transaction():
            count += await rerequest_sweep_reports(conn, now, self.stale_after_s, self.batch)
        return count


def gave_up_waiting(job: StaleJob, stale_after_s: float) -> bool:
    """A job whose request is found nowhere has waited the longest any job waits between requests."""
    return job.idle_s > stale_after_s * 2**MAX_DOUBLINGS


async def requeue_backtests(conn: Connection, now: datetime, stale_after_s: float, limit: int) -> int:
    """Inside a transaction: request stale backtests again; fail those whose request is lost."""
    requeued = []
    for job in await repo.stale_jobs(conn, "backtest_status", now, stale_after_s, limit):
        sent = await resend_latest(conn, "api", (topics.BACKTEST_REQUESTED,), "backtest_id", str(job.id))
        if sent or await _outside_request(conn, job):
            requeued.append(job.id)
        elif gave_up_waiting(job, stale_after_s):
            await _fail_backtest(conn, job, LOST_BACKTEST, now)
    if requeued:
        await repo.mark_requeued(conn, "backtest_status", requeued, now)
        JOBS_REQUESTED_AGAIN.labels("backtest").inc(len(requeued))
        log.info("backtests requested again", count=len(requeued), ids=[str(i) for i in requeued[:20]])
    return len(requeued)


async def _outside_request(conn: Connection, job: StaleJob) -> bool:
    """A request the gateway did not send (an outside producer's), as the gateway or the engine kept it: send
    it again."""
    stored = await repo.outside_request(conn, job.id)
    if stored is None:
        return False
    request = BacktestRequested.model_validate(stored)
    event = make_event(topics.BACKTEST_REQUESTED, request, source=SOURCE, subject=str(job.id))
    await enqueue(conn, "api", event, key=str(request.user_id))
    return True


async def _fail_backtest(conn: Connection, job: StaleJob, message: str, now: datetime) -> None:
    data = BacktestFailed(
        backtest_id=job.id, user_id=job.user_id, configuration_id=job.configuration_id, error_message=message
    )
    view = await backtests.view_for_update(conn, job.id)
    if view is None:
        return
    await backtests.save_view(conn, job.id, next_backtest_view(view, topics.BACKTEST_FAILED, data))
    await on_backtest_finished(PostgresUnitOfWork(conn), data, now)  # a sweep's child: the sweep moves on
    log.warning("backtest failed: its request is lost", backtest_id=str(job.id))


async def requeue_imports(conn: Connection, now: datetime, stale_after_s: float, limit: int) -> int:
    """Inside a transaction: request stale import jobs again; fail those whose request is lost."""
    requeued = []
    for job in await repo.stale_jobs(conn, "import_jobs", now, stale_after_s, limit):
        if await resend_latest(conn, "api", (topics.INGEST_REQUESTED,), "job_id", str(job.id)):
            requeued.append(job.id)
        elif gave_up_waiting(job, stale_after_s):
            await repo.fail_import(conn, job.id, LOST_IMPORT)
    if requeued:
        await repo.mark_requeued(conn, "import_jobs", requeued, now)
        JOBS_REQUESTED_AGAIN.labels("import").inc(len(requeued))
        log.info("import jobs requested again", count=len(requeued), ids=[str(i) for i in requeued[:20]])
    return len(requeued)


async def rerequest_sweep_reports(conn: Connection, now: datetime, stale_after_s: float, limit: int) -> int:
    """Inside a transaction: a finished sweep without its report (its sweep.completed lost with the broker)
    gets its sweep.completed sent again, at most SWEEP_REPORT_REQUESTS times."""
    finished_before = now - timedelta(seconds=stale_after_s)
    sent = []
    for sweep_id in await repo.unreported_sweeps(conn, finished_before, SWEEP_REPORT_REQUESTS, limit):
        if await resend_latest(conn, "api", (topics.SWEEP_COMPLETED,), "sweep_id", str(sweep_id), stale_after_s):
            sent.append(sweep_id)
    if sent:
        await repo.mark_report_requeued(conn, sent)
        JOBS_REQUESTED_AGAIN.labels("sweep report").inc(len(sent))
        log.info("sweep reports requested again", count=len(sent), ids=[str(i) for i in sent[:20]])
    return len(sent)
