"""The reporting service's SQL: one row per report file, of a backtest (performance_reports) or of a sweep
(sweep_reports), in schema `reporting`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.platform.db.types import Connection
from shared.platform.runtime.metrics import REPORT_FAILURES


@dataclass(frozen=True)
class ReportTable:
    name: str
    owner: str  # the column naming what the files report on


BACKTEST_REPORTS = ReportTable("reporting.performance_reports", "backtest_result_id")
SWEEP_REPORTS = ReportTable("reporting.sweep_reports", "sweep_id")


async def upsert_report(
    conn: Connection,
    table: ReportTable,
    report_id: UUID,
    owner_id: UUID,
    report_type: str,
    file_path: str,
    content_hash: str,
    generated_at: datetime,
    metadata: dict[str, Any],
) -> UUID:
    """One row per file; a regenerated file (redelivery) updates its row instead of adding one."""
    value = await conn.fetchval(
        f"INSERT INTO {table.name} (id, {table.owner}, report_type, generated_at, file_path, content_hash, metadata) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) "
        f"ON CONFLICT ({table.owner}, report_type, file_path) DO UPDATE SET content_hash = EXCLUDED.content_hash, "
        "generated_at = EXCLUDED.generated_at, metadata = EXCLUDED.metadata RETURNING id",
        report_id,
        owner_id,
        report_type,
        generated_at,
        file_path,
        content_hash,
        json.dumps(metadata),
    )
    return UUID(str(value))


async def reports_of(conn: Connection, result_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT id, report_type, file_path, content_hash, generated_at, metadata "
            "FROM reporting.performance_reports WHERE backtest_result_id = $1 ORDER BY report_type, file_path",
            result_id,
        )
    )


async def expired_reports(conn: Connection, table: ReportTable, older_than: datetime) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT id, file_path FROM {table.name} WHERE generated_at < $1 ORDER BY generated_at", older_than
        )
    )


async def delete_report(conn: Connection, table: ReportTable, report_id: UUID) -> None:
    await conn.execute(f"DELETE FROM {table.name} WHERE id = $1", report_id)


async def record_failure(conn: Connection, backtest_id: UUID, error: str) -> int:
    """One more failed attempt at `backtest_id`'s reports (reporting.report_failures, and the
    bts_report_failures_total metric); the attempts so far."""
    attempts = await conn.fetchval(
        "INSERT INTO reporting.report_failures (backtest_result_id, attempts, last_error) VALUES ($1, 1, $2) "
        "ON CONFLICT (backtest_result_id) DO UPDATE SET attempts = reporting.report_failures.attempts + 1, "
        "last_error = EXCLUDED.last_error, updated_at = now() RETURNING attempts",
        backtest_id,
        error[:2000],
    )
    REPORT_FAILURES.inc()
    return int(attempts)


async def has_reports(conn: Connection, backtest_id: UUID) -> bool:
    found = await conn.fetchval(
        f"SELECT true FROM {BACKTEST_REPORTS.name} WHERE {BACKTEST_REPORTS.owner} = $1 LIMIT 1", backtest_id
    )
    return bool(found)
