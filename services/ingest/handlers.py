"""ingest.requested in; market_data written; bars.loaded or ingest.failed out via the outbox,
ingest.progress out directly while the file streams."""

from __future__ import annotations

import dataclasses
import time
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg
import structlog

from services.ingest.csv_import import ImportOutcome, ImportPlan, Progress, StrictImportFailed, import_csv
from services.ingest.csv_source import CsvFileError
from services.ingest.domain.ib_pacing import HistoricalPacer
from services.ingest.domain.sessions import SessionTable
from services.ingest.ib_source import IbEndpoint, IbHistory, IbUnavailable, contract_for
from services.ingest.series_adjustment import AdjustmentConflict
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
from shared.contracts.models import DataSource
from shared.contracts.text_bounds import MAX_NAME_CHARS, clip
from shared.domain.calendars import UnknownExchangeError, calendar_code, calendar_for
from shared.platform.db.reads import (
    InstrumentRow,
    fetch_instruments,
    gateway_waits_for,
    may_write_instrument,
    split_dates,
    writer_refused,
)
from shared.platform.db.types import Connection
from shared.platform.kafka.outbox import enqueue
from shared.platform.kafka.producer import EventPublisher
from shared.platform.kafka.resend import resend_latest
from shared.platform.runtime.metrics import BARS_INGESTED

SOURCE = "bts/ingest"
PROGRESS_EVERY_S = 0.5
log = structlog.get_logger()


class IngestRejected(Exception):
    def __init__(self, message: str, outcome: ImportOutcome | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome


def file_path(uri: str | None) -> Path:
    if not uri:
        raise IngestRejected("file_uri is required for a CSV import")
    parts = urlsplit(uri)
    if parts.scheme not in ("", "file"):
        raise IngestRejected(f"file_uri must be a file:// URI (a claim check), got scheme {clip(parts.scheme, 20)!r}")
    return Path(unquote(parts.path))


class PartialFetch(Exception):
    """IB history stopped part way: what was fetched is loaded and kept, and the job fails saying so."""

    def __init__(self, message: str, outcome: ImportOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


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

    async def __call__(self, conn: Connection, envelope: Envelope[Any]) -> None:
        request: IngestRequested = envelope.data
        try:
            outcome = await self._import(conn, envelope)
        except (IngestRejected, CsvFileError, StrictImportFailed, AdjustmentConflict) as exc:
            await self._announce_failure(conn, envelope, str(exc), getattr(exc, "outcome", None))
            return
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            # A value the row checks let through and the database refused: retrying cannot help, so the job
            # fails with the reason (its savepoint rolled back) instead of its message going to the dead letters.
            await self._announce_failure(conn, envelope, f"the database refused a value: {exc}", None)
            return
        except PartialFetch as exc:  # the savepoint committed what was fetched: keep it, say what happened
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

    async def _import(self, conn: Connection, envelope: Envelope[Any]) -> ImportOutcome:
        request: IngestRequested = envelope.data
        instruments = await fetch_instruments(conn, [request.instrument_id])
        instrument = instruments.get(request.instrument_id)
        if instrument is None:
            raise IngestRejected(f"unknown instrument {request.instrument_id}: register it first (POST /instruments)")
        # The gateway checked this already; a request published straight to Kafka is checked here. One
        # without a user_id is an operator's (production ACLs let only the gateway write ingest.requested).
        if request.user_id is not None and not await may_write_instrument(conn, request.user_id, request.instrument_id):
            raise IngestRejected(writer_refused(request.instrument_id))
        try:
            sessions = SessionTable(calendar_for(instrument.exchange), calendar_code(instrument.exchange))
        except UnknownExchangeError as exc:
            raise IngestRejected(str(exc)) from exc
        progress = self._progress_publisher(envelope)
        splits = await split_dates(conn, request.instrument_id)  # their moves are no SPLIT_SUSPECT
        if request.source is DataSource.IBKR:
            return await self._import_ib(conn, request, instrument, sessions, progress, splits)
        plan = ImportPlan(
            self._uploaded(request.file_uri),
            request.instrument_id,
            request.timeframe.value,
            sessions,
            request.skip_invalid,
            request.naive_timestamps_in_exchange_tz,
            request.price_adjustment,
            splits,
        )
        async with conn.transaction():  # a savepoint: a failing strict job leaves nothing behind
            return await import_csv(conn, plan, progress)  # type: ignore[arg-type]

    def _uploaded(self, uri: str | None) -> Path:
        """The claim check must name a file in the uploads folder the gateway shares with us: a message
        never makes ingest read any other file (e.g. file:///etc/passwd, or ../ out of the folder)."""
        path = file_path(uri).resolve()
        if not path.is_relative_to(self.uploads.resolve()):
            name = clip(path.name, MAX_NAME_CHARS)  # the name only: never a server path in a user's message
            raise IngestRejected(
                f"file_uri must name a file in the uploads folder shared with the gateway "
                f"(claim check), got one outside it ({name!r})"
            )
        return path

    async def _import_ib(
        self,
        conn: Connection,
        request: IngestRequested,
        instrument: InstrumentRow,
        sessions: SessionTable,
        progress: Progress,
        splits: frozenset[date],
    ) -> ImportOutcome:
        if request.start is None or request.end is None or request.end <= request.start:
            raise IngestRejected("an IBKR import needs start and end, with end after start")
        try:
            contract_for(instrument)
        except ValueError as exc:
            raise IngestRejected(str(exc)) from exc
        target = self.uploads / f"ibkr-{request.job_id}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)

        async def on_chunk(done: int, total: int, bars: int) -> None:
            await progress(bars, None)

        try:
            fetched = await IbHistory(self.ib, self.pacer).fetch(
                instrument, request.timeframe.value, request.start, request.end, target, on_chunk
            )
        except IbUnavailable as exc:
            raise IngestRejected(str(exc)) from exc
        plan = ImportPlan(target, request.instrument_id, request.timeframe.value, sessions, request.skip_invalid)
        plan = dataclasses.replace(plan, split_dates=splits)
        try:
            async with conn.transaction():
                outcome = await import_csv(conn, plan, progress)  # type: ignore[arg-type]
        finally:  # the fetched history is in the database (or the job failed): the file has served
            target.unlink(missing_ok=True)
        if fetched.error:
            raise PartialFetch(
                f"{fetched.error} (after {fetched.chunks_done} of {fetched.chunks_total} requests; "
                f"the {outcome.rows_loaded} bars fetched before are kept)",
                outcome,
            )
        return outcome

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
