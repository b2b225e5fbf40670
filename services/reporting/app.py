"""Reporting service: backtest.completed -> HTML, CSV and JSON reports, then report.generated; sweep.completed ->
the sweep's report (and its best children's).

Wiring only: what runs in this process and with which settings.
"""

from __future__ import annotations

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
    handler = idempotent(ctx.pool, "reporting", "bts-reporting", ReportHandler(reports_dir))
    finished = consumer(ctx, publisher, [topics.BACKTEST_COMPLETED, topics.BACKTEST_FAILED, topics.SWEEP_COMPLETED],
                        handler)  # fmt: skip
    return [*messaging(ctx, publisher, [finished]), RetentionJob(ctx.pool)]


def main() -> None:
    run_worker(SERVICE, MIGRATIONS_DIR, build_components)
