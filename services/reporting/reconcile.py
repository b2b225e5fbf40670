"""Reporting's reconciler: every COMPLETED result gets its reports, even when its backtest.completed was lost
with the broker or given up on (dead-lettered).

On start and every `reconcile_every_s`, results that completed more than `reconcile_stale_after_s` ago (the
event had its chance) and still have no report get them, claimed like the event would be (so the event, if
it comes later, changes nothing). A result whose reports keep failing is tried `report_max_attempts` times,
then left in reporting.report_failures with its last error, for an operator.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from uuid import UUID

import asyncpg
import structlog

from services.reporting import repository
from services.reporting.handlers import announce, jobs_loaded
from shared.contracts import topics
from shared.platform.db.reads import completed_results_without_reports
from shared.platform.kafka.inbox import claim_work
from shared.platform.runtime.transient import is_transient

GROUP = "bts-reporting"
log = structlog.get_logger()


class HandledWithoutReports(Exception):
    """A result reporting handled (its claim is recorded) that has no report: recorded as a failure, so the
    reconciler stops asking after max_attempts."""


class RetryPolicy(NamedTuple):
    stale_after_s: float  # a result's event had this long to make its reports
    max_attempts: int
    keep: timedelta  # the reports' retention: older results are not reported again


class ReportReconciler:
    """The periodic job's work: how many results it made reports for."""

    def __init__(self, pool: asyncpg.Pool, reports_dir: Path, policy: RetryPolicy, batch: int = 20) -> None:
        self.pool, self.reports_dir, self.batch = pool, reports_dir, batch
        stale_after_s, self.max_attempts, self.keep = policy
        self.stale_after = timedelta(seconds=stale_after_s)

    async def __call__(self, now: datetime) -> int:
        # reports older than their retention are gone on purpose: such results are not reported again
        window = (now - self.keep, now - self.stale_after)
        async with self.pool.acquire() as conn:
            missing = await completed_results_without_reports(conn, window, self.max_attempts, self.batch)
        made = 0
        for backtest_id, user_id in missing:
            made += await self.report(backtest_id, user_id)
        return made

    async def report(self, backtest_id: UUID, user_id: UUID) -> int:
        """The reports of one result, unless someone made them meanwhile; a failure is recorded."""
        await jobs_loaded()
        from services.reporting.report_job import generate_reports

        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if not await claim_work(conn, "reporting", GROUP, backtest_id, topics.BACKTEST_COMPLETED):
                    if not await repository.has_reports(conn, backtest_id):  # handled, yet none: do not ask again
                        raise HandledWithoutReports("the result was handled before, yet it has no report")
                    return 0
                reports = await generate_reports(conn, backtest_id, self.reports_dir)  # type: ignore[arg-type]
                await announce(conn, backtest_id, user_id, reports, None)
        except Exception as exc:
            if is_transient(exc):
                raise
            async with self.pool.acquire() as conn:
                attempts = await repository.record_failure(conn, backtest_id, repr(exc))
            log.error("reports failed", backtest_id=str(backtest_id), error=repr(exc), attempts=attempts)
            return 0
        log.info("reports made by the reconciler", backtest_id=str(backtest_id))
        return 1
