"""Ingest service: market data in (CSV files, Interactive Brokers history) -> market_data, then bars.loaded.

Wiring only: what runs in this process and with which settings.
"""

from __future__ import annotations

from pathlib import Path

from services.ingest.domain.ib_chunks import IbEndpoint
from services.ingest.handlers import IngestHandler
from services.ingest.import_runs import ImportRuns
from services.ingest.lifecycle import MarketDataDeletion
from services.ingest.retention import MarketDataRetention
from shared.contracts import topics
from shared.platform.kafka.principals import lifecycle_group
from shared.platform.kafka.producer import EventPublisher
from shared.platform.runtime.messaging import consumer, messaging
from shared.platform.runtime.service import Component, ServiceContext, run_worker

SERVICE = "ingest"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


async def build_components(ctx: ServiceContext) -> list[Component]:
    publisher = EventPublisher(ctx.kafka_bootstrap)
    settings = ctx.settings
    ib = IbEndpoint(settings.ib_host, settings.ib_port, settings.ib_client_id)
    uploads = settings.uploads_dir
    jobs = IngestHandler(publisher, uploads, ib, in_transit_s=settings.reconcile_stale_after_s)
    runs = ImportRuns(ctx.pool, jobs, settings.max_takeovers)
    requests = consumer(
        ctx, publisher, [topics.INGEST_REQUESTED], runs, on_give_up={topics.INGEST_REQUESTED: runs.give_up}
    )
    retention = MarketDataRetention(ctx.pool, settings.market_data_retention_years, settings.retention_every_s)
    # deletions in a group of their own: they must not wait behind a long import
    deletions = consumer(
        ctx,
        publisher,
        [topics.MARKET_DATA_DELETE_REQUESTED],
        MarketDataDeletion(ctx.pool),
        group=lifecycle_group(SERVICE),
    )
    return [*messaging(ctx, publisher, [requests, deletions]), retention]


def main() -> None:
    run_worker(SERVICE, MIGRATIONS_DIR, build_components)
