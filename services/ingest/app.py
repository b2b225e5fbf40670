"""Ingest service: market data in (CSV files, Interactive Brokers history) -> market_data, then bars.loaded.

Wiring only: what runs in this process and with which settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from services.ingest.handlers import IngestHandler
from services.ingest.ib_source import IbEndpoint
from services.ingest.repository import record_start
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


def takeovers_exhausted(starts: int, max_takeovers: int) -> str:
    return (
        f"the import was started by {starts} ingest processes and each stopped before it ended (taken over at "
        f"most {max_takeovers} times); check the file, or see the ingest log"
    )


async def build_components(ctx: ServiceContext) -> list[Component]:
    publisher = EventPublisher(ctx.kafka_bootstrap)
    settings = ctx.settings
    ib = IbEndpoint(settings.ib_host, settings.ib_port, settings.ib_client_id)
    uploads = (settings.state_dir / "uploads").resolve()
    jobs = IngestHandler(publisher, uploads, ib, in_transit_s=settings.reconcile_stale_after_s)
    # one run per import job: the same job re-sent in a new envelope is recognised by its job_id, and its
    # end announced again
    once = idempotent(ctx.pool, "ingest", GROUP, jobs, key=job_id, on_repeat=jobs.announce_again)
    instance = uuid4()  # this process: an import started by another one before was taken over

    async def give_up(envelope: Envelope[Any], reason: str) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            if await claim(conn, "ingest", GROUP, envelope, job_id):
                await jobs.give_up(conn, envelope, reason)
            else:  # it ended meanwhile: its end, once more
                await jobs.announce_again(conn, envelope)

    async def handler(envelope: Envelope[Any]) -> None:
        async with ctx.pool.acquire() as conn:
            starts = await record_start(conn, job_id(envelope), instance)
        if starts > settings.max_takeovers + 1:  # an import that stops its process must not stop every one
            await give_up(envelope, takeovers_exhausted(starts, settings.max_takeovers))
            return
        await once(envelope)

    requests = consumer(ctx, publisher, [topics.INGEST_REQUESTED], handler, {topics.INGEST_REQUESTED: give_up})
    retention = MarketDataRetention(ctx.pool, settings.market_data_retention_years, settings.retention_every_s)
    return [*messaging(ctx, publisher, [requests]), retention]


def main() -> None:
    run_worker(SERVICE, MIGRATIONS_DIR, build_components)
