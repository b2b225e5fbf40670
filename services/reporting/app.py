"""Reporting service: backtest.completed -> HTML, CSV and JSON reports, then report.generated; sweep.completed ->
the sweep's report (and its best children's).

Wiring only: what runs in this process and with which settings.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from services.reporting.handlers import ReportHandler, unless_contradicted
from services.reporting.lifecycle import LifecycleHandler
from services.reporting.reconcile import ReportReconciler, RetryPolicy
from services.reporting.repository import record_failure
from services.reporting.retention import RetentionJob
from services.reporting.warmup import warm_up
from shared.contracts import topics
from shared.contracts.events import Envelope
from shared.platform.kafka.inbox import idempotent
from shared.platform.kafka.principals import lifecycle_group
from shared.platform.kafka.producer import EventPublisher
from shared.platform.runtime.messaging import consumer, messaging
from shared.platform.runtime.schedule import PeriodicJob
from shared.platform.runtime.service import Component, ServiceContext, run_worker
from shared.platform.runtime.warmup import WarmUp

SERVICE = "reporting"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def unit_of_work(envelope: Envelope[Any]) -> UUID:
    """What one message asks reporting to do: the reports of a backtest, or of a sweep."""
    data = envelope.data
    return data.sweep_id if envelope.type == topics.SWEEP_COMPLETED else data.backtest_id  # type: ignore[no-any-return]


async def build_components(ctx: ServiceContext) -> list[Component]:
    publisher = EventPublisher(ctx.kafka_bootstrap)
    reports_dir = (ctx.settings.state_dir / "reports").resolve()
    # one set of reports per result (finished results never change) and per sweep: keyed by the
    # backtest_id / sweep_id, not the event id, so the same work re-sent in a new envelope is recognised
    handler = unless_contradicted(
        ctx.pool, idempotent(ctx.pool, "reporting", "bts-reporting", ReportHandler(reports_dir), key=unit_of_work)
    )
    settings = ctx.settings

    async def give_up(envelope: Envelope[Any], reason: str) -> None:
        # the reconciler tries again, up to report_max_attempts times in all
        async with ctx.pool.acquire() as conn:
            await record_failure(conn, envelope.data.backtest_id, f"backtest.completed given up on: {reason}")

    finished = consumer(
        ctx,
        publisher,
        [topics.BACKTEST_COMPLETED, topics.BACKTEST_FAILED, topics.SWEEP_COMPLETED],
        handler,
        on_give_up={topics.BACKTEST_COMPLETED: give_up},
    )
    keep = timedelta(days=settings.report_retention_days)
    retention = RetentionJob(ctx.pool, settings.retention_every_s, keep=keep)
    policy = RetryPolicy(settings.reconcile_stale_after_s, settings.report_max_attempts, keep)
    reconciler = PeriodicJob("reconcile", ReportReconciler(ctx.pool, reports_dir, policy), settings.reconcile_every_s)
    deletions = consumer(
        ctx,
        publisher,
        [topics.BACKTEST_DELETED, topics.SWEEP_DELETED],
        LifecycleHandler(ctx.pool),
        group=lifecycle_group(SERVICE),
    )
    # first: it runs while the consumers join; the first report costs what a warm one does
    warm = WarmUp(functools.partial(warm_up, reports_dir))
    return [warm, *messaging(ctx, publisher, [finished, deletions]), retention, reconciler]


def main() -> None:
    run_worker(SERVICE, MIGRATIONS_DIR, build_components)
