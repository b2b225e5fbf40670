"""backtest.completed / backtest.failed and sweep.completed in; files and rows written; report.generated out via
the outbox."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
import structlog

from shared.contracts import topics
from shared.contracts.events import Envelope, ReportGenerated, SweepCompleted, make_event
from shared.contracts.models import ReportType
from shared.contracts.models.enums import TERMINAL_STATUSES
from shared.platform.db.reads import fetch_result_state
from shared.platform.db.types import Connection
from shared.platform.kafka.consumer import Handler
from shared.platform.kafka.outbox import enqueue
from shared.platform.runtime.metrics import EVENTS_IGNORED
from shared.platform.runtime.warmup import imported_in_thread

if TYPE_CHECKING:
    from services.reporting.report_job import GeneratedReport

SOURCE = "bts/reporting"
# The report jobs import pandas, and render with plotly, jinja2 and empyrical (seconds of CPU): not on the
# service's way to ready. The warm-up loads them after ready; a message that comes first loads them.
JOBS = ("services.reporting.report_job", "services.reporting.sweep_report_job")
log = structlog.get_logger()


async def jobs_loaded() -> None:
    """The report jobs imported (in a worker thread, if not done yet)."""
    await imported_in_thread(*JOBS)


def unless_contradicted(pool: asyncpg.Pool, handler: Handler) -> Handler:
    """Skip a backtest event that the engine's existing result contradicts (another user, not finished):
    logged and counted, and checked before the idempotent handler, so that it does not use up the
    backtest's one unit of work and the real event still makes the reports. An event about a result the
    engine does not have (yet) goes on to the handler, which retries and then dead-letters it; so does one
    whose result the engine has created since this check and not finished (`ResultNotFinished`)."""

    async def handle(envelope: Envelope[Any]) -> None:
        data = envelope.data
        if envelope.type != topics.SWEEP_COMPLETED:
            async with pool.acquire() as conn:
                result = await fetch_result_state(conn, data.backtest_id)
            if result is not None and (result.user_id != data.user_id or result.status not in TERMINAL_STATUSES):
                ids = {"backtest_id": str(data.backtest_id), "status": result.status}
                log.warning("event contradicts the engine's result: ignored", topic=envelope.type, **ids)
                EVENTS_IGNORED.labels("reporting", envelope.type, "the engine's result disagrees").inc()
                return
        await handler(envelope)

    return handle


class ReportHandler:
    """Runs inside the idempotent transaction: a redelivered event is skipped; rewrites are harmless."""

    def __init__(self, reports_dir: Path) -> None:
        self.reports_dir = reports_dir

    async def __call__(self, conn: Connection, envelope: Envelope[Any]) -> None:
        data = envelope.data
        if isinstance(data, SweepCompleted):
            await self._sweep(conn, envelope, data)
            return
        if getattr(data, "sweep_id", None) is not None:
            return  # a sweep's child: reported, if among the best, when the sweep completes
        await jobs_loaded()
        from services.reporting.report_job import generate_reports

        reports = await generate_reports(conn, data.backtest_id, self.reports_dir)  # type: ignore[arg-type]
        await self._announce(conn, envelope, data.backtest_id, data.user_id, reports)

    async def _sweep(self, conn: Connection, envelope: Envelope[Any], data: SweepCompleted) -> None:
        await jobs_loaded()
        from services.reporting.sweep_report_job import SweepNotFound, generate_sweep_report

        try:
            best, folder = data.report_backtest_ids, self.reports_dir
            children, own = await generate_sweep_report(conn, data.sweep_id, best, folder)  # type: ignore[arg-type]
        except SweepNotFound as exc:
            log.warning("sweep report skipped", sweep_id=str(data.sweep_id), error=str(exc))
            return
        by_backtest: dict[UUID, list[GeneratedReport]] = {}
        for backtest_id, report in children:
            by_backtest.setdefault(backtest_id, []).append(report)
        for backtest_id, reports in by_backtest.items():
            await self._announce(conn, envelope, backtest_id, data.user_id, reports)
        log.info(
            "sweep report written",
            sweep_id=str(data.sweep_id),
            files=[r.file_path for r in own],
            child_reports=len(by_backtest),
        )

    async def _announce(
        self,
        conn: Connection,
        envelope: Envelope[Any],
        backtest_id: UUID,
        user_id: UUID,
        reports: list[GeneratedReport],
    ) -> None:
        await announce(conn, backtest_id, user_id, reports, envelope.correlation_id)


async def announce(
    conn: Connection, backtest_id: UUID, user_id: UUID, reports: list[GeneratedReport], correlation_id: str | None
) -> None:
    """report.generated for each of `reports`, through the outbox (inside the caller's transaction)."""
    for report in reports:
        data = ReportGenerated(
            backtest_id=backtest_id,
            report_id=report.id,
            report_type=ReportType(report.report_type),
            file_path=report.file_path,
            content_hash=report.content_hash,
        )
        event = make_event(
            topics.REPORT_GENERATED, data, source=SOURCE, subject=str(backtest_id), correlation_id=correlation_id
        )
        await enqueue(conn, "reporting", event, key=str(user_id))
