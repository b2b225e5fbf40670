"""The reporting service's SQL: performance_reports rows (schema `reporting`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.db.types import Connection


async def upsert_report(
    conn: Connection,
    report_id: UUID,
    result_id: UUID,
    report_type: str,
    file_path: str,
    content_hash: str,
    generated_at: datetime,
    metadata: dict[str, Any],
) -> UUID:
    """One row per file; a regenerated file (redelivery) updates its row instead of adding one."""
    value = await conn.fetchval(
        "INSERT INTO reporting.performance_reports (id, backtest_result_id, report_type, generated_at, file_path, "
        "content_hash, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) "
        "ON CONFLICT (backtest_result_id, report_type, file_path) DO UPDATE SET content_hash = EXCLUDED.content_hash, "
        "generated_at = EXCLUDED.generated_at, metadata = EXCLUDED.metadata RETURNING id",
        report_id, result_id, report_type, generated_at, file_path, content_hash, json.dumps(metadata),
    )  # fmt: skip
    return UUID(str(value))


async def reports_of(conn: Connection, result_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT id, report_type, file_path, content_hash, generated_at, metadata "
            "FROM reporting.performance_reports WHERE backtest_result_id = $1 ORDER BY report_type, file_path",
            result_id,
        )
    )


async def expired_reports(conn: Connection, older_than: datetime) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT id, file_path FROM reporting.performance_reports WHERE generated_at < $1 ORDER BY generated_at",
            older_than,
        )
    )


async def delete_report(conn: Connection, report_id: UUID) -> None:
    await conn.execute("DELETE FROM reporting.performance_reports WHERE id = $1", report_id)


async def upsert_sweep_report(
    conn: Connection,
    report_id: UUID,
    sweep_id: UUID,
    report_type: str,
    file_path: str,
    content_hash: str,
    generated_at: datetime,
    metadata: dict[str, Any],
) -> UUID:
    """One row per file of a sweep's report; a regenerated file updates its row."""
    value = await conn.fetchval(
        "INSERT INTO reporting.sweep_reports (id, sweep_id, report_type, generated_at, file_path, content_hash, "
        "metadata) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT (sweep_id, report_type, file_path) DO UPDATE "
        "SET content_hash = EXCLUDED.content_hash, generated_at = EXCLUDED.generated_at, metadata = EXCLUDED.metadata "
        "RETURNING id",
        report_id, sweep_id, report_type, generated_at, file_path, content_hash, json.dumps(metadata),
    )  # fmt: skip
    return UUID(str(value))


async def expired_sweep_reports(conn: Connection, older_than: datetime) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT id, file_path FROM reporting.sweep_reports WHERE generated_at < $1 ORDER BY generated_at",
            older_than,
        )
    )


async def delete_sweep_report(conn: Connection, report_id: UUID) -> None:
    await conn.execute("DELETE FROM reporting.sweep_reports WHERE id = $1", report_id)
