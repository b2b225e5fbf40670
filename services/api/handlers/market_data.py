"""/market-data: CSV uploads and IB history requests become `ingest.requested` (claim check: the file
stays under the state directory's uploads folder, only its URI travels); bars are read back here."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import anyio
from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import StreamingResponse

from services.api import correlation
from services.api.auth import CurrentUser
from services.api.domain.bar_range import END_FORMATS, exclusive_end
from services.api.domain.time_range import time_range
from services.api.handlers.deps import Ctx, Db
from services.api.handlers.instruments import WRITE_REFUSED, InstrumentId
from services.api.problems import FieldError, ProblemError, not_found, unprocessable
from services.api.repository.imports import insert_job, job_row
from services.api.repository.instruments import get_instrument
from services.api.repository.uploads import bytes_on_disk, lock_bytes_on_disk
from services.api.schemas import BarOut, IbkrImport, ImportJobOut, JobAccepted
from services.api.service_layer import SOURCE
from services.api.uploads import UploadPolicy
from shared.contracts import topics
from shared.contracts.events import IngestRequested, make_event
from shared.contracts.models import DataSource, Timeframe
from shared.contracts.models.enums import BarAdjustment
from shared.contracts.models.instrument import INSTRUMENT_ID_PATTERN
from shared.platform.db.reads import may_write_instrument, stream_bars, writer_refused
from shared.platform.db.types import Connection
from shared.platform.kafka.outbox import enqueue

router = APIRouter(prefix="/market-data", tags=["market data"])
CHUNK = 1024 * 1024


async def _writable_instrument(conn: Connection, user: UUID, instrument_id: str, field: str) -> None:
    """Bars of a shared instrument are written by its owner or an admin only (403 for anyone else)."""
    if await get_instrument(conn, instrument_id) is None:
        raise unprocessable(
            [
                FieldError(
                    field=field, message=f"unknown instrument {instrument_id}: register it first (POST /instruments)"
                )
            ]
        )
    if not await may_write_instrument(conn, user, instrument_id):
        raise ProblemError(403, "Forbidden", writer_refused(instrument_id))


async def _store(upload: UploadFile, target: Path, limit: int, too_large: ProblemError) -> int:
    """Stream the upload to disk; never more than `limit` bytes (`too_large` beyond)."""
    size = 0
    await anyio.Path(target.parent).mkdir(parents=True, exist_ok=True)
    try:
        async with await anyio.open_file(target, "wb") as sink:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise too_large
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


async def _submit(
    conn: Connection, request: IngestRequested, file_name: str | None, upload: tuple[str, int] | None = None
) -> None:
    async with conn.transaction():
        await insert_job(conn, request, file_name, upload)
        event = make_event(
            topics.INGEST_REQUESTED,
            request,
            source=SOURCE,
            subject=str(request.job_id),
            correlation_id=correlation.current(),
        )
        await enqueue(conn, "api", event, key=request.instrument_id)


UPLOAD_REFUSED: Final[dict[int | str, dict[str, Any]]] = {
    413: {"description": "over the upload limit or your upload quota"},
    **WRITE_REFUSED,
}


@router.post("/import", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted, responses=UPLOAD_REFUSED)
async def import_csv(
    user: CurrentUser,
    conn: Db,
    ctx: Ctx,
    file: Annotated[UploadFile, File(description="CSV: timestamp,open,high,low,close,volume or a common export")],
    instrument_id: Annotated[str, Form(pattern=INSTRUMENT_ID_PATTERN)],
    timeframe: Annotated[Timeframe, Form()],
    skip_invalid: Annotated[bool, Form(description="load the valid rows and report the rejects")] = False,
    naive_timestamps_in_exchange_tz: Annotated[bool, Form(description="naive timestamps are exchange time")] = False,
    price_adjustment: Annotated[
        BarAdjustment,
        Form(
            description="RAW: prices as in the file (an Adj Close column is ignored, and the job says so); "
            "ADJUSTED: open/high/low/close scaled by Adj Close / Close per row (the file must have Adj Close)"
        ),
    ] = BarAdjustment.RAW,
) -> JobAccepted:
    """Upload a CSV; the ingest service validates and loads it. Poll the job or watch `bts ingest csv`. The file
    is deleted when its import ends (after BTS_UPLOAD_GRACE_S); your files still on disk count against your
    upload quota (BTS_UPLOAD_QUOTA_BYTES, 413 past it)."""
    await _writable_instrument(conn, user, instrument_id, "body.instrument_id")
    uploads = UploadPolicy.of(ctx.settings)
    used = await bytes_on_disk(conn, user)
    room = uploads.room(used)
    if room == 0:
        raise uploads.over_quota(used)
    job_id = uuid.uuid4()
    name = uploads.file_name(job_id)
    target = uploads.path(name)
    largest = ctx.settings.max_upload_bytes
    too_large = ProblemError(413, "Content Too Large", f"the file is over the {largest}-byte upload limit")
    size = await _store(file, target, min(largest, room), too_large if largest <= room else uploads.over_quota(used))
    request = IngestRequested(
        job_id=job_id,
        user_id=user,
        source=DataSource.CSV_FILE,
        instrument_id=instrument_id,
        timeframe=timeframe,
        file_uri=target.as_uri(),
        skip_invalid=skip_invalid,
        naive_timestamps_in_exchange_tz=naive_timestamps_in_exchange_tz,
        price_adjustment=price_adjustment,
    )
    try:
        async with conn.transaction():
            # Checked again, under a lock of the user's uploads: two uploads at once cannot both pass.
            used = await lock_bytes_on_disk(conn, user)
            if used + size > uploads.quota_bytes:
                raise uploads.over_quota(used)
            await _submit(conn, request, _display_name(file.filename), (name, size))
    except BaseException:  # no job, no file: an upload the database did not take leaves nothing behind
        await anyio.Path(target).unlink(missing_ok=True)
        raise
    return JobAccepted(job_id=job_id)


@router.post("/ibkr", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted, responses=WRITE_REFUSED)
async def import_ibkr(body: IbkrImport, user: CurrentUser, conn: Db) -> JobAccepted:
    """Fetch history from Interactive Brokers (TWS / IB Gateway at BTS_IB_HOST:BTS_IB_PORT)."""
    period = time_range(body.start, body.end, "body")
    if isinstance(period, list):
        raise unprocessable([FieldError(field=p.field, message=p.message) for p in period])
    start, end = period.start, period.end
    await _writable_instrument(conn, user, body.instrument_id, "body.instrument_id")
    job_id = uuid.uuid4()
    request = IngestRequested(
        job_id=job_id,
        user_id=user,
        source=DataSource.IBKR,
        instrument_id=body.instrument_id,
        timeframe=body.timeframe,
        start=start,
        end=end,
    )
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


@router.get(
    "/{instrument_id}",
    response_model=list[BarOut],
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
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
    try:
        end = exclusive_end(end_text)
    except ValueError as exc:
        raise unprocessable([FieldError(field="query.end", message=str(exc))]) from None
    period = time_range(start, end, "query")  # before the 200 starts: a stream cannot turn into an error
    if isinstance(period, list):
        raise unprocessable([FieldError(field=p.field, message=p.message) for p in period])
    start, end = period.start, period.end
    async with ctx.pool.acquire() as conn:
        if await get_instrument(conn, instrument_id) is None:
            raise not_found("instrument", instrument_id)

    async def rows() -> AsyncIterator[BarOut]:
        async with ctx.pool.acquire() as conn, conn.transaction():
            async for batch in stream_bars(conn, instrument_id, timeframe.value, start, end, batch=10_000):
                for r in batch:
                    yield BarOut(**dict(r))

    bars = await _primed(rows())
    if format == "csv":
        return StreamingResponse(_csv(bars), media_type="text/csv")
    return StreamingResponse(_json_array(bars), media_type="application/json")


async def _primed(rows: AsyncIterator[BarOut]) -> AsyncIterator[BarOut]:
    """`rows` with its first item already read: the query's errors surface before the 200 is sent, as a
    problem answer, instead of cutting a started body off."""
    first = await anext(rows, None)

    async def chained() -> AsyncIterator[BarOut]:
        if first is None:
            return
        yield first
        async for row in rows:
            yield row

    return chained()


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
