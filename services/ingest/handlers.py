"""ingest.requested in; market_data written; bars.loaded or ingest.failed out via the outbox,
ingest.progress out directly while the file streams."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from services.ingest.domain.ib_chunks import IbEndpoint
from services.ingest.domain.ib_pacing import HistoricalPacer
from services.ingest.domain.ib_reachability import IbReachability
from shared.contracts import topics
from shared.contracts.events import (
    BarsLoaded,
    Envelope,
    ImportWarning,
    IngestFailed,
    IngestProgress,
    IngestRequested,
    RowError,
    make_event,
)
from shared.platform.db.reads import gateway_waits_for
from shared.platform.db.types import Connection
from shared.platform.kafka.outbox import enqueue
from shared.platform.kafka.producer import EventPublisher
from shared.platform.kafka.resend import resend_latest
from shared.platform.runtime.metrics import BARS_INGESTED
from shared.platform.runtime.warmup import imported_in_thread

if TYPE_CHECKING:
    from services.ingest.csv_import import ImportOutcome, Progress

SOURCE = "bts/ingest"
USE_CASE = "services.ingest.import_job"  # pandas and the IB client: preloaded after start, awaited by a job
PROGRESS_EVERY_S = 0.5
log = structlog.get_logger()


class IngestHandler:
    """Runs inside the idempotent transaction; the import itself inside a savepoint, so a strict job
    with bad rows writes nothing but still records its failure event."""

    def __init__(
        self,
        publisher: EventPublisher,
        uploads: Path | None = None,
        ib: IbEndpoint | None = None,
        pacer: HistoricalPacer | None = None,
        in_transit_s: float = 20.0,
    ) -> None:
        self.publisher = publisher
        self.in_transit_s = in_transit_s  # an end announced less long ago is on its way: not announced again
        self.uploads = uploads or Path(".bts/uploads")
        self.ib = ib or IbEndpoint("127.0.0.1", 7497, 1)
        self.pacer = pacer or HistoricalPacer()  # one per process: pacing holds across jobs
        self.reachability = IbReachability()  # one per process too: see services/ingest/domain/ib_reachability.py

    @staticmethod
    async def loaded() -> None:
        """The import job's modules imported (in a worker thread, if the preload has not done it yet): awaited
        before the job's transaction opens, not inside it."""
        await imported_in_thread(USE_CASE)

    async def __call__(self, conn: Connection, envelope: Envelope[Any]) -> None:
        request: IngestRequested = envelope.data
        from services.ingest import import_job  # loaded already: see `loaded`

        sources = import_job.Sources(self.uploads, self.ib, self.pacer, self.reachability)
        try:
            outcome = await import_job.run_import(conn, request, sources, self._progress_publisher(envelope))
        except import_job.REFUSALS as exc:
            await self._announce_failure(conn, envelope, str(exc), getattr(exc, "outcome", None))
            return
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            # A value the row checks let through and the database refused: retrying cannot help, so the job
            # fails with the reason (its savepoint rolled back) instead of its message going to the dead letters.
            await self._announce_failure(conn, envelope, f"the database refused a value: {exc}", None)
            return
        except import_job.PartialFetch as exc:  # the savepoint committed what was fetched: keep it, say what happened
            await self._announce_failure(conn, envelope, str(exc), exc.outcome, kept=exc.outcome.rows_loaded)
            return
        if outcome.rows_loaded == 0 or outcome.first is None or outcome.last is None:
            await self._announce_failure(conn, envelope, "no valid rows to load", outcome)
            return
        data = BarsLoaded(
            job_id=request.job_id,
            instrument_id=request.instrument_id,
            timeframe=request.timeframe,
            first=outcome.first,
            last=outcome.last,
            rows=outcome.inserted + outcome.updated,
            rows_inserted=outcome.inserted,
            rows_updated=outcome.updated,
            rows_unchanged=outcome.unchanged,
            rows_rejected=outcome.rows_rejected,
            errors=[RowError(line=e.line, field=e.field, message=e.message) for e in outcome.errors],
            price_adjustment=request.price_adjustment,
            notes=outcome.notes,
            warnings=[
                ImportWarning(
                    kind=f.kind.value,
                    instrument_id=request.instrument_id,
                    timeframe=request.timeframe,
                    start=f.start,
                    end=f.end,
                    detail=f.detail,
                )
                for f in outcome.quality.findings
            ],
            warning_counts=outcome.quality.counts,
        )
        event = make_event(
            topics.BARS_LOADED,
            data,
            source=SOURCE,
            subject=request.instrument_id,
            correlation_id=envelope.correlation_id,
        )
        await enqueue(conn, "ingest", event, key=request.instrument_id)
        BARS_INGESTED.labels(request.timeframe.value).inc(outcome.inserted + outcome.updated)

    async def announce_again(self, conn: Connection, envelope: Envelope[Any]) -> None:
        """A job requested again after it ended: its end is announced again if the gateway still waits for it
        and the event had time to arrive (it was lost); a mere duplicate of the request changes nothing."""
        job_id = envelope.data.job_id
        if not await gateway_waits_for(conn, "import_jobs", job_id):
            return
        ends = (topics.BARS_LOADED, topics.INGEST_FAILED)
        if await resend_latest(conn, "ingest", ends, "job_id", str(job_id), self.in_transit_s):
            log.info("import already done; its end announced again", job_id=str(job_id))

    async def give_up(self, conn: Connection, envelope: Envelope[Any], reason: str) -> None:
        """ingest.requested given up on (dead-lettered), in the transaction that records its job as handled:
        the job ends with ingest.failed and the reason."""
        await self._announce_failure(conn, envelope, f"ingest gave up on this import: {reason}", None)

    def _progress_publisher(self, envelope: Envelope[Any]) -> Progress:
        request: IngestRequested = envelope.data
        last = [0.0]

        async def progress(done: int, total: int | None) -> None:
            if time.monotonic() - last[0] < PROGRESS_EVERY_S and done != total:
                return
            last[0] = time.monotonic()
            data = IngestProgress(
                job_id=request.job_id, instrument_id=request.instrument_id, rows_done=done, rows_total=total
            )
            event = make_event(
                topics.INGEST_PROGRESS,
                data,
                source=SOURCE,
                subject=str(request.job_id),
                correlation_id=envelope.correlation_id,
            )
            try:
                await self.publisher.publish(event, key=request.instrument_id)
            except Exception as exc:  # progress is best effort
                log.warning("progress not published", error=str(exc))

        return progress

    async def _announce_failure(
        self, conn: Connection, envelope: Envelope[Any], message: str, outcome: ImportOutcome | None, kept: int = 0
    ) -> None:
        request: IngestRequested = envelope.data
        rejected = outcome.errors if outcome else []
        data = IngestFailed(
            job_id=request.job_id,
            instrument_id=request.instrument_id,
            error=message,
            rows_loaded=kept,
            rows_rejected=outcome.rows_rejected if outcome else 0,
            errors=[RowError(line=e.line, field=e.field, message=e.message) for e in rejected],
            errors_total=outcome.errors_total if outcome else 0,
        )
        event = make_event(
            topics.INGEST_FAILED,
            data,
            source=SOURCE,
            subject=str(request.job_id),
            correlation_id=envelope.correlation_id,
        )
        await enqueue(conn, "ingest", event, key=request.instrument_id)
        log.info("ingest failed", job_id=str(request.job_id), error=message)
