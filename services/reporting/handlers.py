"""backtest.completed / backtest.failed in; files and rows written; report.generated out via the outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.reporting.report_job import generate_reports
from shared import topics
from shared.db.types import Connection
from shared.events import Envelope, ReportGenerated, make_event
from shared.kafka.outbox import enqueue
from shared.models import ReportType

SOURCE = "bts/reporting"


class ReportHandler:
    """Runs inside the idempotent transaction: a redelivered event is skipped; rewrites are harmless."""

    def __init__(self, reports_dir: Path) -> None:
        self.reports_dir = reports_dir

    async def __call__(self, conn: Connection, envelope: Envelope[Any]) -> None:
        backtest_id = envelope.data.backtest_id
        reports = await generate_reports(conn, backtest_id, self.reports_dir)  # type: ignore[arg-type]
        for report in reports:
            data = ReportGenerated(backtest_id=backtest_id, report_id=report.id,
                                   report_type=ReportType(report.report_type), file_path=report.file_path,
                                   content_hash=report.content_hash)  # fmt: skip
            event = make_event(topics.REPORT_GENERATED, data, source=SOURCE, subject=str(backtest_id),
                               correlation_id=envelope.correlation_id)  # fmt: skip
            await enqueue(conn, "reporting", event, key=str(envelope.data.user_id))
