"""The gateway's jobs that are not terminal and made no progress for a while (api.backtest_status,
api.import_jobs), and the record of requesting them again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from uuid import UUID

from shared.contracts.events import BacktestRequested
from shared.platform.db.types import Connection

# After each request again, the job waits twice as long before the next (up to 2**MAX_DOUBLINGS times).
MAX_DOUBLINGS: Final = 4
JobTable = Literal["backtest_status", "import_jobs"]


@dataclass(frozen=True)
class StaleJob:
    id: UUID
    user_id: UUID
    status: str
    requeued: int
    idle_s: float  # since its last progress or request again
    configuration_id: UUID | None = None


async def stale_jobs(
    conn: Connection, table: JobTable, now: datetime, stale_after_s: float, limit: int
) -> list[StaleJob]:
    """Up to `limit` jobs of `table`, PENDING or RUNNING, idle for `stale_after_s * 2**requeued` seconds
    (capped); locked for the caller's transaction (another gateway replica skips them)."""
    configuration = "configuration_id" if table == "backtest_status" else "NULL::uuid AS configuration_id"
    rows = await conn.fetch(
        f"SELECT id, user_id, status, requeued, {configuration}, "
        "extract(epoch FROM $1::timestamptz - GREATEST(updated_at, COALESCE(requeued_at, updated_at))) AS idle_s "
        f"FROM api.{table} WHERE status IN ('PENDING', 'RUNNING') "
        "AND GREATEST(updated_at, COALESCE(requeued_at, updated_at)) "
        "< $1::timestamptz - make_interval(secs => $2::float8 * power(2, LEAST(requeued, $4::int))) "
        "ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED",
        now,
        stale_after_s,
        limit,
        MAX_DOUBLINGS,
    )
    return [StaleJob(**_fields(r)) for r in rows]


def _fields(row: Any) -> dict[str, Any]:
    values = dict(row)
    values["idle_s"] = float(values["idle_s"])
    return values


async def mark_requeued(conn: Connection, table: JobTable, ids: list[UUID], now: datetime) -> None:
    await conn.execute(
        f"UPDATE api.{table} SET requeued = requeued + 1, requeued_at = $2 WHERE id = ANY($1::uuid[])", ids, now
    )


async def remember_outside_request(conn: Connection, request: BacktestRequested) -> None:
    """Keep the request of a backtest an outside producer sent straight to Kafka: the gateway can send it
    again (its own requests are in its outbox)."""
    await conn.execute(
        "UPDATE api.backtest_status SET outside_request = $2::jsonb WHERE id = $1 AND outside_request IS NULL",
        request.backtest_id,
        request.model_dump_json(),
    )


async def outside_request(conn: Connection, backtest_id: UUID) -> dict[str, Any] | None:
    """The request of an outside producer's backtest, as the gateway kept it, or as the engine stored it."""
    raw = await conn.fetchval(
        "SELECT COALESCE((SELECT outside_request::text FROM api.backtest_status WHERE id = $1), "
        "(SELECT request::text FROM engine.v_backtest_results WHERE id = $1))",
        backtest_id,
    )
    if raw is None:
        return None
    request: dict[str, Any] = json.loads(raw)
    return request or None


async def fail_import(conn: Connection, job_id: UUID, message: str) -> None:
    await conn.execute(
        "UPDATE api.import_jobs SET status = 'FAILED', error_message = $2, updated_at = now() "
        "WHERE id = $1 AND status IN ('PENDING', 'RUNNING')",
        job_id,
        message,
    )


async def unreported_sweeps(conn: Connection, finished_before: datetime, max_requests: int, limit: int) -> list[UUID]:
    """Finished sweeps without a sweep report whose sweep.completed was sent again fewer than `max_requests`
    times; locked for the caller's transaction."""
    rows = await conn.fetch(
        "SELECT s.id FROM api.sweeps s WHERE s.status IN ('COMPLETED', 'FAILED') AND s.completed_at < $1 "
        "AND s.report_requeued < $2 "
        "AND NOT EXISTS (SELECT 1 FROM reporting.v_sweep_reports r WHERE r.sweep_id = s.id) "
        "ORDER BY s.completed_at LIMIT $3 FOR UPDATE OF s SKIP LOCKED",
        finished_before,
        max_requests,
        limit,
    )
    return [r["id"] for r in rows]


async def mark_report_requeued(conn: Connection, sweep_ids: list[UUID]) -> None:
    await conn.execute(
        "UPDATE api.sweeps SET report_requeued = report_requeued + 1 WHERE id = ANY($1::uuid[])", sweep_ids
    )
