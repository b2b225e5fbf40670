"""Ingest service: market data in (CSV files, Interactive Brokers history) -> market_data, then bars.loaded.

Wiring only: what runs in this process and with which settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from services.ingest.handlers import IngestHandler
from services.ingest.ib_source import IbEndpoint
from services.ingest.retention import MarketDataRetention
from shared import topics
from shared.events import Envelope
from shared.kafka.inbox import claim, idempotent
from shared.kafka.producer import EventPublisher
from shared.runtime.messaging import consumer, messaging
from shared.runtime.service import Component, ServiceContext, run_worker

SERVICE = "ingest"
GROUP = "bts-ingest"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def job_id(envelope: Envelope[Any]) -> UUID:
    """What one ingest.requested asks for: the import job."""
    return envelope.data.job_id  # type: ignore[no-any-return]


async def build_components(ctx: ServiceContext) -> list[Component]:
    publisher = EventPublisher(ctx.kafka_bootstrap)
    settings = ctx.settings
    ib = IbEndpoint(settings.ib_host, settings.ib_port, settings.ib_client_id)
    uploads = (settings.state_dir / "uploads").resolve()
    jobs = IngestHandler(publisher, uploads, ib)
    # one run per import job: the same job re-sent in a new envelope is recognised by its job_id, and its
    # end announced again
    handler = idempotent(ctx.pool, "ingest", GROUP, jobs, key=job_id, on_repeat=jobs.announce_again)

    async def give_up(envelope: Envelope[Any], reason: str) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            if await claim(conn, "ingest", GROUP, envelope, job_id):  # else it ended meanwhile
                await jobs.give_up(conn, envelope, reason)

    requests = consumer(ctx, publisher, [topics.INGEST_REQUESTED], handler, {topics.INGEST_REQUESTED: give_up})
    retention = MarketDataRetention(ctx.pool, settings.market_data_retention_years, settings.retention_every_s)
    return [*messaging(ctx, publisher, [requests]), retention]


def main() -> None:
    run_worker(SERVICE, MIGRATIONS_DIR, build_components)
