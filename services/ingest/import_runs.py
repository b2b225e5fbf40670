"""ingest.requested as a whole: each import job runs once (idempotent by job_id), a job requested again after
it ended has its end announced again, an import whose process stopped is taken over a bounded number of
times, and a request given up on (dead-lettered) ends its job with ingest.failed."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.ingest.handlers import IngestHandler
from services.ingest.repository import forget_start, record_start
from shared.contracts.events import Envelope
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


class ImportRuns:
    def __init__(self, pool: asyncpg.Pool, jobs: IngestHandler, max_takeovers: int) -> None:
        self.pool, self.jobs, self.max_takeovers = pool, jobs, max_takeovers
        self.once = idempotent(pool, "ingest", GROUP, jobs, key=job_id, on_repeat=jobs.announce_again)
        self.instance = uuid4()  # this process: an import another process started before is taken over

    async def __call__(self, envelope: Envelope[Any]) -> None:
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
