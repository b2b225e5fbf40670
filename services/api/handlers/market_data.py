"""/market-data: CSV uploads and IB history requests become `ingest.requested` (claim check: the file
stays under the state directory's uploads folder, only its URI travels); bars are read back here."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

import anyio
from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import StreamingResponse

from services.api import correlation
from services.api.auth import CurrentUser
from services.api.domain.bar_range import END_FORMATS, exclusive_end
from services.api.handlers.deps import Ctx, Db
from services.api.handlers.instruments import WRITE_REFUSED, InstrumentId
from services.api.problems import FieldError, ProblemError, not_found, unprocessable
from services.api.repository.imports import insert_job, job_row
from services.api.repository.instruments import get_instrument
from services.api.schemas import BarOut, IbkrImport, ImportJobOut, JobAccepted
from shared import topics
from shared.db.reads import may_write_instrument, stream_bars, writer_refused
from shared.db.types import Connection
from shared.events import IngestRequested, make_event
from shared.kafka.outbox import enqueue
from shared.models import DataSource, Timeframe

router = APIRouter(prefix="/market-data", tags=["market data"])
SOURCE = "bts/api"
CHUNK = 1024 * 1024


async def _writable_instrument(conn: Connection, user: UUID, instrument_id: str, field: str) -> None:
    """Bars of a shared instrument are written by its owner or an admin only (403 for anyone else)."""
    if await get_instrument(conn, instrument_id) is None:
        raise unprocessable([FieldError(field=field, message=f"unknown instrument {instrument_id}: register it "
                                                             "first (POST /instruments)")])  # fmt: skip
    if not await may_write_instrument(conn, user, instrument_id):
        raise ProblemError(403, "Forbidden", writer_refused(instrument_id))


async def _store(upload: UploadFile, target: Path, limit: int) -> int:
    """Stream the upload to disk; never more than `limit` bytes (413 beyond)."""
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        async with await anyio.open_file(target, "wb") as sink:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ProblemError(413, "Content Too Large", f"the file is over the {limit}-byte upload limit")
                await sink.write(chunk)
    except BaseException:
        await anyio.Path(target).unlink(missing_ok=True)
        raise
    if size == 0:
        await anyio.Path(target).unlink(missing_ok=True)
        raise unprocessable([FieldError(field="body.file", message="the file is empty")])
    return size


def _display_name(file_name: str | None) -> str | None:
    """The client's file name, kept only to show it back: printable characters, at most 255 (never a path
    we use, and PostgreSQL text cannot hold a NUL)."""
    shown = "".join(ch for ch in (file_name or "") if ch.isprintable())[:255]
    return shown or None


async def _submit(conn: Connection, request: IngestRequested, file_name: str | None) -> None:
    async with conn.transaction():
        await insert_job(conn, request, file_name)
        event = make_event(topics.INGEST_REQUESTED, request, source=SOURCE, subject=str(request.job_id),
                           correlation_id=correlation.current())  # fmt: skip
        await enqueue(conn, "api", event, key=request.instrument_id)


@router.post("/import", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted,
             responses={413: {"description": "file over the upload limit"}, **WRITE_REFUSED})  # fmt: skip
async def import_csv(
    user: CurrentUser,
    conn: Db,
    ctx: Ctx,
    file: Annotated[UploadFile, File(description="CSV: timestamp,open,high,low,close,volume or a common export")],
    instrument_id: Annotated[str, Form(pattern=r"^[A-Z0-9][A-Z0-9./-]{0,19}\.[A-Z0-9]{2,12}$")],
    timeframe: Annotated[Timeframe, Form()],
    skip_invalid: Annotated[bool, Form(description="load the valid rows and report the rejects")] = False,
    naive_timestamps_in_exchange_tz: Annotated[bool, Form(description="naive timestamps are exchange time")] = False,
) -> JobAccepted:
    """Upload a CSV; the ingest service validates and loads it. Poll the job or watch `bts ingest csv`."""
    await _writable_instrument(conn, user, instrument_id, "body.instrument_id")
    job_id = uuid.uuid4()
    target = (ctx.settings.state_dir / "uploads" / f"{job_id}.csv").resolve()  # our name, never the client's
    await _store(file, target, ctx.settings.max_upload_bytes)
    request = IngestRequested(job_id=job_id, user_id=user, source=DataSource.CSV_FILE, instrument_id=instrument_id,
                              timeframe=timeframe, file_uri=target.as_uri(), skip_invalid=skip_invalid,
                              naive_timestamps_in_exchange_tz=naive_timestamps_in_exchange_tz)  # fmt: skip
    try:
        await _submit(conn, request, _display_name(file.filename))
    except BaseException:  # no job, no file: an upload the database did not take leaves nothing behind
        await anyio.Path(target).unlink(missing_ok=True)
        raise
    return JobAccepted(job_id=job_id)


@router.post("/ibkr", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted, responses=WRITE_REFUSED)
async def import_ibkr(body: IbkrImport, user: CurrentUser, conn: Db) -> JobAccepted:
    """Fetch history from Interactive Brokers (TWS / IB Gateway at BTS_IB_HOST:BTS_IB_PORT)."""
    start, end = (v if v.tzinfo else v.replace(tzinfo=UTC) for v in (body.start, body.end))
    if end <= start:
        raise unprocessable([FieldError(field="body.end", message=f"end ({end}) must be after start ({start})")])
    await _writable_instrument(conn, user, body.instrument_id, "body.instrument_id")
    job_id = uuid.uuid4()
    request = IngestRequested(job_id=job_id, user_id=user, source=DataSource.IBKR, instrument_id=body.instrument_id,
                              timeframe=body.timeframe, start=start, end=end)  # fmt: skip
    await _submit(conn, request, None)
    return JobAccepted(job_id=job_id)


@router.get("/import/{job_id}", response_model=ImportJobOut)
async def import_status(job_id: UUID, user: CurrentUser, conn: Db) -> ImportJobOut:
    """Status of an import: rows done, loaded, rejected and each rejected row's {line, field, message}."""
    row = await job_row(conn, user, job_id)
    if row is None:
        raise not_found("import job", job_id)
    return ImportJobOut.model_validate(row)


BAR_FIELDS = ["timestamp", "open", "high", "low", "close", "volume"]


@router.get("/{instrument_id}", response_model=list[BarOut],
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})  # fmt: skip
async def read_bars(
    user: CurrentUser,
    ctx: Ctx,
    timeframe: Timeframe,
    start: Annotated[datetime, Query(description="first bar open included (a date: from 00:00 UTC)")],
    end_text: Annotated[str, Query(alias="end", description=f"end of the range: {END_FORMATS}")],
    instrument_id: str = InstrumentId,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> StreamingResponse:
    """Bars from `start` to `end` in time order, streamed (years of minute bars do not load into memory).
    A date-only `end` (2024-12-31) includes that day; a timestamp `end` is excluded. Naive times are UTC."""
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    try:
        end = exclusive_end(end_text)
    except ValueError as exc:
        raise unprocessable([FieldError(field="query.end", message=str(exc))]) from None
    if end <= start:
        raise unprocessable([FieldError(field="query.end", message=f"end ({end}) must be after start ({start})")])
    async with ctx.pool.acquire() as conn:
        if await get_instrument(conn, instrument_id) is None:
            raise not_found("instrument", instrument_id)

    async def rows() -> AsyncIterator[BarOut]:
        async with ctx.pool.acquire() as conn, conn.transaction():
            async for batch in stream_bars(conn, instrument_id, timeframe.value, start, end, batch=10_000):
                for r in batch:
                    yield BarOut(**dict(r))

    if format == "csv":
        return StreamingResponse(_csv(rows()), media_type="text/csv")
    return StreamingResponse(_json_array(rows()), media_type="application/json")


async def _csv(rows: AsyncIterator[BarOut]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(BAR_FIELDS)
    async for bar in rows:
        writer.writerow([bar.timestamp.isoformat(), bar.open, bar.high, bar.low, bar.close, bar.volume])
        if buffer.tell() > CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def _json_array(rows: AsyncIterator[BarOut]) -> AsyncIterator[str]:
    parts: list[str] = []
    size, emitted = 0, False
    yield "["
    async for bar in rows:
        text = bar.model_dump_json()
        parts.append(text)
        size += len(text)
        if size > CHUNK:
            yield ("," if emitted else "") + ",".join(parts)
            parts, size, emitted = [], 0, True
    if parts:
        yield ("," if emitted else "") + ",".join(parts)
    yield "]"
