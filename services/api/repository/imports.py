"""The import-job read model (api.import_jobs), fed by ingest.progress, bars.loaded and ingest.failed."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg

from services.api.domain.read_models import ImportView
from shared.contracts.events import IngestRequested
from shared.platform.db.types import Connection

COLUMNS = (
    "id AS job_id, instrument_id, timeframe, source, status, rows_done, rows_total, rows_loaded, rows_rejected, "
    "rows_inserted, rows_updated, rows_unchanged, errors, error_message, warnings, warning_counts, submitted_at, "
    "updated_at, price_adjustment, notes"
)


async def insert_job(
    conn: Connection, request: IngestRequested, file_name: str | None, upload: tuple[str, int] | None = None
) -> None:
    """`file_name`: the client's, shown back; `upload`: (name, bytes) of our file in the uploads folder."""
    upload_file, upload_bytes = upload or (None, 0)
    await conn.execute(
        "INSERT INTO api.import_jobs (id, user_id, instrument_id, timeframe, source, status, file_name, "
        "upload_file, upload_bytes, price_adjustment) VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $7, $8, $9)",
        request.job_id,
        request.user_id,
        request.instrument_id,
        request.timeframe.value,
        request.source.value,
        file_name,
        upload_file,
        upload_bytes,
        request.price_adjustment.value,
    )


async def job_row(conn: Connection, user_id: UUID, job_id: UUID) -> dict[str, object] | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM api.import_jobs WHERE id = $1 AND user_id = $2", job_id, user_id)
    if row is None:
        return None
    return _decoded(row)


def _decoded(row: asyncpg.Record) -> dict[str, Any]:
    """The row with its jsonb columns as Python (asyncpg hands them over as text unless a codec is set)."""
    values = dict(row)
    for name in ("errors", "notes", "warnings", "warning_counts"):
        if isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    return values


async def job_instrument(conn: Connection, job_id: UUID) -> str | None:
    """The instrument an import job loads (None: no such job)."""
    instrument: str | None = await conn.fetchval("SELECT instrument_id FROM api.import_jobs WHERE id = $1", job_id)
    return instrument


async def view_for_update(conn: Connection, job_id: UUID) -> ImportView | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT status, rows_done, rows_total, rows_loaded, rows_rejected, errors, error_message, rows_inserted, "
        "rows_updated, rows_unchanged, warnings, warning_counts FROM api.import_jobs WHERE id = $1 FOR UPDATE",
        job_id,
    )
    if row is None:
        return None
    return ImportView(**_decoded(row))


async def save_view(conn: Connection, job_id: UUID, view: ImportView) -> None:
    await conn.execute(
        "UPDATE api.import_jobs SET status = $2, rows_done = $3, rows_total = $4, rows_loaded = $5, "
        "rows_rejected = $6, errors = $7::jsonb, error_message = $8, rows_inserted = $9, rows_updated = $10, "
        "rows_unchanged = $11, warnings = $12::jsonb, warning_counts = $13::jsonb, updated_at = now() WHERE id = $1",
        job_id,
        view.status,
        view.rows_done,
        view.rows_total,
        view.rows_loaded,
        view.rows_rejected,
        json.dumps(view.errors),
        view.error_message,
        view.rows_inserted,
        view.rows_updated,
        view.rows_unchanged,
        json.dumps(view.warnings),
        json.dumps(view.warning_counts),
    )


async def record_notes(conn: Connection, job_id: UUID, notes: list[str]) -> None:
    """What ingest said about the file as a whole (e.g. an Adj Close column it ignored)."""
    await conn.execute("UPDATE api.import_jobs SET notes = $2::jsonb WHERE id = $1", job_id, json.dumps(notes))
