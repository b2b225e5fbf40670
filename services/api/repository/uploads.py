"""SQL of uploaded files: the bytes a user has on disk, and the files whose import job has ended."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from shared.contracts.models.enums import TERMINAL_STATUSES
from shared.platform.db.types import Connection


async def bytes_on_disk(conn: Connection, user_id: UUID) -> int:
    """Bytes of the user's uploads not deleted yet (what counts against the quota)."""
    used = await conn.fetchval(
        "SELECT coalesce(sum(upload_bytes), 0) FROM api.import_jobs "
        "WHERE user_id = $1 AND upload_file IS NOT NULL AND upload_deleted_at IS NULL",
        user_id,
    )
    return int(used)


async def lock_bytes_on_disk(conn: Connection, user_id: UUID) -> int:
    """`bytes_on_disk` under a lock of the user's uploads held until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('api.uploads:' || $1, 0))", str(user_id))
    return await bytes_on_disk(conn, user_id)


async def ended_uploads(
    conn: Connection, ended_before: datetime | None = None, job_id: UUID | None = None
) -> list[tuple[UUID, str]]:
    """(job id, file name) of the files still on disk whose job has ended (before `ended_before`; that job)."""
    rows = await conn.fetch(
        "SELECT id, upload_file FROM api.import_jobs WHERE upload_file IS NOT NULL AND upload_deleted_at IS NULL "
        "AND status = ANY($1::text[]) AND ($2::timestamptz IS NULL OR updated_at <= $2) "
        "AND ($3::uuid IS NULL OR id = $3)",
        list(TERMINAL_STATUSES),
        ended_before,
        job_id,
    )
    return [(r["id"], r["upload_file"]) for r in rows]


async def mark_deleted(conn: Connection, job_ids: list[UUID]) -> None:
    if job_ids:
        await conn.execute("UPDATE api.import_jobs SET upload_deleted_at = now() WHERE id = ANY($1::uuid[])", job_ids)


async def untracked_statuses(conn: Connection, job_ids: list[UUID]) -> dict[UUID, str | None]:
    """Status of each job whose file `ended_uploads` does not cover (IB fetches, jobs from before files were
    tracked); None for a job whose tracked file that query deletes. Jobs not found are left out."""
    rows = await conn.fetch(
        "SELECT id, CASE WHEN upload_file IS NULL THEN status END AS status FROM api.import_jobs "
        "WHERE id = ANY($1::uuid[])",
        job_ids,
    )
    return {r["id"]: r["status"] for r in rows}
