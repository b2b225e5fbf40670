"""ingest.requested as a whole: each import job runs once (idempotent by job_id), a job requested again after
it ended has its end announced again, an import whose process stopped is taken over a bounded number of
times, and a request given up on (dead-lettered) ends its job with ingest.failed."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.ingest.handlers import IngestHandler
from shared.contracts.events import Envelope
from shared.platform.db.types import Connection
from shared.platform.kafka.inbox import claim, idempotent

GROUP = "bts-ingest"


def job_id(envelope: Envelope[Any]) -> UUID:
    """What one ingest.requested asks for: the import job."""
    return envelope.data.job_id  # type: ignore[no-any-return]


def takeovers_exhausted(starts: int, max_takeovers: int) -> str:
    return (
        f"the import was started by {starts} ingest processes and each stopped before it ended (taken over at "
        f"most {max_takeovers} times); check the file, or see the ingest log"
    )


async def record_start(conn: Connection, job_id: UUID, instance: UUID) -> int:
    """Note that `instance` (one ingest process) starts import `job_id`; how many processes started it so far
    (retries inside one process count once: only a takeover by another process adds one)."""
    starts = await conn.fetchval(
        "INSERT INTO ingest.import_attempts (job_id, starts, instance) VALUES ($1, 1, $2) "
        "ON CONFLICT (job_id) DO UPDATE SET starts = ingest.import_attempts.starts "
        "+ CASE WHEN ingest.import_attempts.instance = EXCLUDED.instance THEN 0 ELSE 1 END, "
        "instance = EXCLUDED.instance, started_at = now() RETURNING starts",
        job_id,
        instance,
    )
    return int(starts)


async def forget_start(conn: Connection, job_id: UUID) -> None:
    """The job was handled: its starts need not be counted any more."""
    await conn.execute("DELETE FROM ingest.import_attempts WHERE job_id = $1", job_id)


class ImportRuns:
    def __init__(self, pool: asyncpg.Pool, jobs: IngestHandler, max_takeovers: int) -> None:
        self.pool, self.jobs, self.max_takeovers = pool, jobs, max_takeovers
        self.once = idempotent(pool, "ingest", GROUP, jobs, key=job_id, on_repeat=jobs.announce_again)
        self.instance = uuid4()  # this process: an import another process started before is taken over

    async def __call__(self, envelope: Envelope[Any]) -> None:
        await self.jobs.loaded()
        async with self.pool.acquire() as conn:
            starts = await record_start(conn, job_id(envelope), self.instance)
        if starts > self.max_takeovers + 1:  # an import that stops its process must not stop every one
            await self.give_up(envelope, takeovers_exhausted(starts, self.max_takeovers))
            return
        await self.once(envelope)
        async with self.pool.acquire() as conn:
            await forget_start(conn, job_id(envelope))

    async def give_up(self, envelope: Envelope[Any], reason: str) -> None:
        """The job ends with ingest.failed and the reason, unless it ended meanwhile (then its end, again)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if await claim(conn, "ingest", GROUP, envelope, job_id):
                await self.jobs.give_up(conn, envelope, reason)
            else:
                await self.jobs.announce_again(conn, envelope)
            await forget_start(conn, job_id(envelope))
