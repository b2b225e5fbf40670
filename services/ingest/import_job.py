"""One import job, a CSV file or Interactive Brokers history, into market_data: the checks on the request,
the claim check, the fetch from IB, and the import itself (`csv_import`) inside a savepoint.

This is ingest's heavy part (pandas, numpy, the IB client: about a CPU-second of imports), so the service
starts without it: `__main__` preloads it at a lower priority once `bts up` has sent its settings, and the
handler waits for it (`handlers.USE_CASE`) before the first job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlsplit

from services.ingest.csv_import import ImportOutcome, ImportPlan, Progress, StrictImportFailed, import_csv
from services.ingest.csv_source import CsvFileError
from services.ingest.domain.ib_chunks import IbEndpoint
from services.ingest.domain.ib_pacing import HistoricalPacer
from services.ingest.domain.ib_reachability import IbReachability
from services.ingest.domain.sessions import SessionTable
from services.ingest.ib_source import IbHistory, IbUnavailable, contract_for
from services.ingest.series_adjustment import AdjustmentConflict
from shared.contracts.events import IngestRequested
from shared.contracts.models import DataSource
from shared.contracts.text_bounds import MAX_NAME_CHARS, clip
from shared.domain.calendars import UnknownExchangeError, calendar_code, calendar_for
from shared.platform.db.reads import InstrumentRow, fetch_instruments, may_write_instrument, split_dates, writer_refused
from shared.platform.db.types import Connection


class IngestRejected(Exception):
    def __init__(self, message: str, outcome: ImportOutcome | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome


class PartialFetch(Exception):
    """IB history stopped part way: what was fetched is loaded and kept, and the job fails saying so."""

    def __init__(self, message: str, outcome: ImportOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


# A job that fails with one of these ends FAILED with the message; nothing it staged is kept.
REFUSALS = (IngestRejected, CsvFileError, StrictImportFailed, AdjustmentConflict)


@dataclass(frozen=True)
class Sources:
    """Where an import reads from: the uploads folder the gateway shares (claim checks), and IB."""

    uploads: Path
    ib: IbEndpoint
    pacer: HistoricalPacer  # one per process: pacing holds across jobs
    reachability: IbReachability  # one per process: an unreachable gateway fails the next imports at once


def file_path(uri: str | None) -> Path:
    if not uri:
        raise IngestRejected("file_uri is required for a CSV import")
    parts = urlsplit(uri)
    if parts.scheme not in ("", "file"):
        raise IngestRejected(f"file_uri must be a file:// URI (a claim check), got scheme {clip(parts.scheme, 20)!r}")
    return Path(unquote(parts.path))


async def run_import(conn: Connection, request: IngestRequested, sources: Sources, progress: Progress) -> ImportOutcome:
    """Import what `request` asks for, inside the caller's transaction; raises one of REFUSALS, or PartialFetch."""
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
    splits = await split_dates(conn, request.instrument_id)  # their moves are no SPLIT_SUSPECT
    if request.source is DataSource.IBKR:
        return await _import_ib(conn, request, instrument, sessions, sources, progress, splits)
    plan = ImportPlan(
        _uploaded(request.file_uri, sources.uploads),
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


def _uploaded(uri: str | None, uploads: Path) -> Path:
    """The claim check must name a file in the uploads folder the gateway shares with us: a message
    never makes ingest read any other file (e.g. file:///etc/passwd, or ../ out of the folder)."""
    path = file_path(uri).resolve()
    if not path.is_relative_to(uploads.resolve()):
        name = clip(path.name, MAX_NAME_CHARS)  # the name only: never a server path in a user's message
        raise IngestRejected(
            f"file_uri must name a file in the uploads folder shared with the gateway "
            f"(claim check), got one outside it ({name!r})"
        )
    return path


async def _import_ib(
    conn: Connection,
    request: IngestRequested,
    instrument: InstrumentRow,
    sessions: SessionTable,
    sources: Sources,
    progress: Progress,
    splits: frozenset[date],
) -> ImportOutcome:
    if request.start is None or request.end is None or request.end <= request.start:
        raise IngestRejected("an IBKR import needs start and end, with end after start")
    try:
        contract_for(instrument)
    except ValueError as exc:
        raise IngestRejected(str(exc)) from exc
    target = sources.uploads / f"ibkr-{request.job_id}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)

    async def on_chunk(done: int, total: int, bars: int) -> None:
        await progress(bars, None)

    try:
        fetched = await IbHistory(sources.ib, sources.pacer, sources.reachability).fetch(
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
