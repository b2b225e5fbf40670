"""Uploaded CSV files do not stay on disk for ever, and no user fills the disk.

- A file is deleted when its import job ends (COMPLETED or FAILED) plus BTS_UPLOAD_GRACE_S (0: at once,
  as the gateway's read model learns the job ended; the grace keeps a failed job's file for a replay).
- A scheduled sweep (every BTS_UPLOAD_SWEEP_EVERY_S) deletes what the read model could not: files of jobs
  that ended while the gateway was down or within the grace, files of jobs that ended before files were
  tracked, and orphans (no job: an upload the database never took) once they are old enough not to be an
  upload still arriving.
- The bytes of a user's files still on disk count against BTS_UPLOAD_QUOTA_BYTES; past it, 413.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import anyio
import asyncpg
import structlog

from services.api.problems import ProblemError
from services.api.repository import uploads as repo
from shared.contracts import topics
from shared.contracts.events import Envelope
from shared.contracts.models.enums import TERMINAL_STATUSES
from shared.platform.db.types import Connection
from shared.platform.kafka.inbox import TxHandler
from shared.platform.runtime.schedule import Clock, PeriodicJob, utc_now
from shared.platform.settings import Settings

log = structlog.get_logger()

UPLOAD_ARRIVING_S: Final = 3600.0  # a file without a job younger than this may be an upload still arriving
FILE_NAME: Final = re.compile(r"^(?:ibkr-)?(?P<job>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.csv$")
ENDING_TOPICS: Final = frozenset({topics.BARS_LOADED, topics.INGEST_FAILED})


@dataclass(frozen=True)
class UploadPolicy:
    folder: Path
    grace_s: float
    quota_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> UploadPolicy:
        return cls(settings.uploads_dir, settings.upload_grace_s, settings.upload_quota_bytes)

    def file_name(self, job_id: UUID) -> str:
        """Our name for a job's upload, never the client's."""
        return f"{job_id}.csv"

    def path(self, name: str) -> Path:
        return self.folder / Path(name).name  # a bare name: never a path out of the folder

    def room(self, used: int) -> int:
        """Bytes the user may still upload."""
        return max(self.quota_bytes - used, 0)

    def over_quota(self, used: int) -> ProblemError:
        grace = f"{self.grace_s:g} s" if self.grace_s else "at once"
        return ProblemError(
            413,
            "Content Too Large",
            f"the upload quota is {self.quota_bytes:,} bytes per user (BTS_UPLOAD_QUOTA_BYTES) and your uploads "
            f"still on disk take {used:,}: a file is deleted when its import ends (after {grace})",
        )


def job_of(file_name: str) -> UUID | None:
    """The import job a file in the uploads folder belongs to (an upload, or an IB fetch), if any."""
    found = FILE_NAME.match(file_name)
    return UUID(found["job"]) if found else None


async def _delete(policy: UploadPolicy, conn: Connection, files: list[tuple[UUID, str]]) -> int:
    for _, name in files:
        await anyio.Path(policy.path(name)).unlink(missing_ok=True)
    await repo.mark_deleted(conn, [job for job, _ in files])
    return len(files)


def deleting_ended_uploads(apply: TxHandler, policy: UploadPolicy) -> TxHandler:
    """The read-model handler, plus: with no grace, a job's upload is deleted as the gateway learns it ended."""

    async def handle(conn: Connection, envelope: Envelope[Any]) -> None:
        await apply(conn, envelope)
        job_id = getattr(envelope.data, "job_id", None)
        if policy.grace_s == 0 and envelope.type in ENDING_TOPICS and isinstance(job_id, UUID):
            await _delete(policy, conn, await repo.ended_uploads(conn, job_id=job_id))

    return handle


async def sweep_uploads(pool: asyncpg.Pool, policy: UploadPolicy, now: datetime) -> int:
    """Delete the files of ended jobs past the grace, and orphaned files; returns how many went."""
    async with pool.acquire() as conn:
        deleted = await _delete(policy, conn, await repo.ended_uploads(conn, now - timedelta(seconds=policy.grace_s)))
        if not await anyio.Path(policy.folder).is_dir():
            return deleted
        ages: dict[str, float] = {}
        async for entry in anyio.Path(policy.folder).iterdir():
            try:
                ages[entry.name] = time.time() - (await entry.stat()).st_mtime
            except FileNotFoundError:  # deleted meanwhile
                continue
        jobs = {name: job_of(name) for name in ages}
        statuses = await repo.untracked_statuses(conn, [job for job in jobs.values() if job is not None])
        for name, age in ages.items():
            job = jobs[name]
            if job is not None and job in statuses and statuses[job] not in TERMINAL_STATUSES:
                continue  # tracked (the query above decides), or its job is still running
            orphan = job is None or job not in statuses
            if age >= (max(policy.grace_s, UPLOAD_ARRIVING_S) if orphan else policy.grace_s):
                await anyio.Path(policy.path(name)).unlink(missing_ok=True)
                deleted += 1
    return deleted


class UploadSweep(PeriodicJob):
    def __init__(self, pool: asyncpg.Pool, policy: UploadPolicy, every_s: float, clock: Clock = utc_now) -> None:
        async def work(now: datetime) -> int:
            return await sweep_uploads(pool, policy, now)

        super().__init__("upload sweep", work, every_s, clock)
