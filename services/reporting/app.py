"""Reporting service: backtest.completed -> HTML, CSV and JSON reports, then report.generated.

Wiring only: what runs in this process and with which settings.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.reporting.handlers import ReportHandler
from services.reporting.retention import RetentionJob
from shared import topics
from shared.kafka.inbox import idempotent
from shared.kafka.producer import EventPublisher
from shared.runtime.messaging import consumer, messaging
from shared.runtime.service import Component, ServiceContext, run_worker

SERVICE = "reporting"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


async def build_components(ctx: ServiceContext) -> list[Component]:
    publisher = EventPublisher(ctx.kafka_bootstrap)
    reports_dir = (ctx.settings.state_dir / "reports").resolve()
    # one set of reports per result (finished results never change): keyed by backtest_id, not event id
    handler = idempotent(ctx.pool, "reporting", "bts-reporting", ReportHandler(reports_dir),
                         key=lambda envelope: envelope.data.backtest_id)  # fmt: skip
    finished = consumer(ctx, publisher, [topics.BACKTEST_COMPLETED, topics.BACKTEST_FAILED], handler)
    settings = ctx.settings
    retention = RetentionJob(ctx.pool, settings.retention_every_s, keep=timedelta(days=settings.report_retention_days))
    return [*messaging(ctx, publisher, [finished]), retention]


def main() -> None:
    run_worker(SERVICE, MIGRATIONS_DIR, build_components)
