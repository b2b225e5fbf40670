"""The scheduled upload sweep on the real database: files of jobs that ended longer ago than the grace go,
and so do orphans old enough not to be an upload still arriving; files of running jobs, of jobs that ended
within the grace, and young orphans stay."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.api.uploads import UPLOAD_ARRIVING_S, UploadPolicy, sweep_uploads
from shared.devstack.stack import Endpoints
from shared.platform.db.urls import asyncpg_dsn, role_url
from tests.conftest import ROLE_PASSWORD

pytestmark = pytest.mark.integration

GRACE_S = 600.0


@pytest.fixture
async def api_pool(migrated: Endpoints) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        asyncpg_dsn(role_url(migrated.database_url, "api", ROLE_PASSWORD)), min_size=1, max_size=2
    )
    try:
        yield pool
    finally:
        await pool.close()


async def _job(pool: asyncpg.Pool, status: str, ended_s_ago: float, tracked: bool) -> uuid.UUID:
    job = uuid.uuid4()
    await pool.execute(
        "INSERT INTO api.import_jobs (id, user_id, instrument_id, timeframe, source, status, upload_file, "
        "upload_bytes, updated_at) VALUES ($1, $2, 'SWP.NASDAQ', 'BAR_DAILY', 'CSV_FILE', $3, $4, 10, $5)",
        job,
        uuid.uuid4(),
        status,
        f"{job}.csv" if tracked else None,
        datetime.now(UTC) - timedelta(seconds=ended_s_ago),
    )
    return job


def _file(folder: Path, name: str, age_s: float) -> str:
    path = folder / name
    path.write_text("timestamp,open,high,low,close,volume\n")
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return name


async def test_the_sweep_deletes_what_has_served_and_keeps_the_rest(api_pool: asyncpg.Pool, tmp_path: Path) -> None:
    policy = UploadPolicy(tmp_path, grace_s=GRACE_S, quota_bytes=10**9)
    old = GRACE_S * 2
    ended_long_ago = _file(tmp_path, f"{await _job(api_pool, 'COMPLETED', old, True)}.csv", old)
    ended_just_now = _file(tmp_path, f"{await _job(api_pool, 'FAILED', 5, True)}.csv", old)
    running = _file(tmp_path, f"{await _job(api_pool, 'RUNNING', old, True)}.csv", old)
    ib_fetch_of_ended_job = _file(tmp_path, f"ibkr-{await _job(api_pool, 'FAILED', old, False)}.csv", old)
    old_orphan = _file(tmp_path, f"{uuid.uuid4()}.csv", UPLOAD_ARRIVING_S + 60)
    arriving = _file(tmp_path, f"{uuid.uuid4()}.csv", GRACE_S + 60)  # no job yet: may still be arriving
    deleted = await sweep_uploads(api_pool, policy, datetime.now(UTC))
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {ended_just_now, running, arriving}
    assert {ended_long_ago, ib_fetch_of_ended_job, old_orphan}.isdisjoint(left)
    assert deleted == 3
    marked = await api_pool.fetchval(
        "SELECT upload_deleted_at IS NOT NULL FROM api.import_jobs WHERE upload_file = $1", ended_long_ago
    )
    assert marked is True
