"""api.sweeps and api.sweep_children: the sweeps users define and the read model of their children."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.api.domain.listing import Filter
from services.api.repository.listing import page
from shared.contracts.models.enums import BacktestStatus, SweepChildState, SweepPhase
from shared.contracts.sweep_rows import SweepChildRow, SweepRow
from shared.platform.db.types import Connection

SWEEP_COLUMNS = (
    "id, user_id, name, strategy_id, strategy_type, base_parameters, space, configuration, timeframe, objective, "
    "direction, heatmap, prescreen_top_k, walk_forward, report_top, combinations, skipped, total, kafka_keys, status, "
    "error_message, submitted_at, started_at, completed_at, updated_at"
)
CHILD_COLUMNS = (
    "sweep_id, n, backtest_id, combination, phase, window_index, priority, parameters, start_date, end_date, state, "
    "kafka_key, prescreen_score, objective_value, metrics, trades_count, error_message, published_at, finished_at"
)


class SweepRecord(SweepRow):
    """The gateway's whole row: what reporting reads, plus how its children are keyed and its last error."""

    kafka_keys: list[str]
    error_message: str | None
    updated_at: datetime


class ChildRecord(SweepChildRow):
    sweep_id: UUID
    priority: int
    kafka_key: str | None


def _sweep(row: asyncpg.Record | None) -> SweepRecord | None:
    return SweepRecord.model_validate(dict(row)) if row is not None else None


def _children(rows: list[asyncpg.Record]) -> list[ChildRecord]:
    return [ChildRecord.model_validate(dict(r)) for r in rows]


async def insert_sweep(conn: Connection, sweep: SweepRecord) -> None:
    values = sweep.model_dump()
    for key in ("base_parameters", "space", "configuration", "walk_forward"):
        values[key] = json.dumps(values[key], default=str) if values[key] is not None else None
    columns = [c.strip() for c in SWEEP_COLUMNS.split(",")]
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await conn.execute(
        f"INSERT INTO api.sweeps ({SWEEP_COLUMNS}) VALUES ({placeholders})", *(values[c] for c in columns)
    )


async def insert_children(conn: Connection, children: list[ChildRecord]) -> None:
    columns = [c.strip() for c in CHILD_COLUMNS.split(",")]
    records = []
    for child in children:
        values = child.model_dump()
        values["parameters"] = json.dumps(values["parameters"])
        values["metrics"] = json.dumps(values["metrics"]) if values["metrics"] is not None else None
        records.append(tuple(values[c] for c in columns))
    await conn.copy_records_to_table("sweep_children", schema_name="api", records=records, columns=columns)


async def sweep_of(conn: Connection, user_id: UUID, sweep_id: UUID) -> SweepRecord | None:
    return _sweep(
        await conn.fetchrow(f"SELECT {SWEEP_COLUMNS} FROM api.sweeps WHERE id = $1 AND user_id = $2", sweep_id, user_id)
    )


async def sweep_for_update(conn: Connection, sweep_id: UUID) -> SweepRecord | None:
    return _sweep(await conn.fetchrow(f"SELECT {SWEEP_COLUMNS} FROM api.sweeps WHERE id = $1 FOR UPDATE", sweep_id))


async def list_sweeps(
    conn: Connection, user_id: UUID, filters: list[Filter], limit: int, offset: int
) -> tuple[list[SweepRecord], int]:
    """One page of the user's sweeps, newest first, and how many pass the filters in all."""
    mine = [Filter("user_id = ?", user_id), *filters]
    rows, total = await page(conn, "api.sweeps", SWEEP_COLUMNS, mine, "submitted_at DESC, id", limit, offset)
    return [SweepRecord.model_validate(dict(r)) for r in rows], total


async def state_counts(conn: Connection, sweep_ids: list[UUID]) -> dict[UUID, dict[str, int]]:
    """Children per state, and RUNNING: published children the engine has started (the status read model)."""
    rows = await conn.fetch(
        "SELECT c.sweep_id, c.state, count(*) AS n, count(*) FILTER (WHERE s.status = 'RUNNING') AS running "
        "FROM api.sweep_children c LEFT JOIN api.backtest_status s ON s.id = c.backtest_id "
        "WHERE c.sweep_id = ANY($1::uuid[]) GROUP BY c.sweep_id, c.state",
        sweep_ids,
    )
    counts: dict[UUID, dict[str, int]] = {sid: {} for sid in sweep_ids}
    for r in rows:
        counts[r["sweep_id"]][r["state"]] = int(r["n"])
        if r["state"] == SweepChildState.PUBLISHED:
            counts[r["sweep_id"]][BacktestStatus.RUNNING] = int(r["running"])
    return counts


async def next_queued(conn: Connection, sweep_id: UUID, limit: int) -> list[ChildRecord]:
    """The next children to publish: out-of-sample runs first (priority 0), then in order."""
    return _children(
        list(
            await conn.fetch(
                f"SELECT {CHILD_COLUMNS} FROM api.sweep_children WHERE sweep_id = $1 AND state = 'QUEUED' "
                "ORDER BY priority, n LIMIT $2 FOR UPDATE",
                sweep_id,
                limit,
            )
        )
    )


async def mark_published(conn: Connection, sweep_id: UUID, n: int, key: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE api.sweep_children SET state = 'PUBLISHED', kafka_key = $3, published_at = $4 "
        "WHERE sweep_id = $1 AND n = $2 AND state = 'QUEUED'",
        sweep_id,
        n,
        key,
        at,
    )


async def finish_child(
    conn: Connection,
    backtest_id: UUID,
    state: str,
    objective_value: float | None,
    metrics: dict[str, Any] | None,
    trades_count: int | None,
    error_message: str | None,
    at: datetime,
) -> ChildRecord | None:
    """PUBLISHED -> COMPLETED / FAILED; None when the backtest is no sweep child or was already finished."""
    row = await conn.fetchrow(
        "UPDATE api.sweep_children SET state = $2, objective_value = $3, metrics = $4::jsonb, trades_count = $5, "
        "error_message = $6, finished_at = $7 WHERE backtest_id = $1 AND state = 'PUBLISHED' "
        f"RETURNING {CHILD_COLUMNS}",
        backtest_id,
        state,
        objective_value,
        json.dumps(metrics) if metrics is not None else None,
        trades_count,
        error_message,
        at,
    )
    return ChildRecord.model_validate(dict(row)) if row is not None else None


async def open_children(conn: Connection, sweep_id: UUID) -> int:
    """Children not finished yet (queued or published)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM api.sweep_children WHERE sweep_id = $1 AND state IN ('QUEUED', 'PUBLISHED')", sweep_id
        )
    )


async def window_open(conn: Connection, sweep_id: UUID, window: int) -> tuple[int, bool]:
    """In-sample children of a window not finished yet, and whether its out-of-sample child exists."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE phase = 'IN_SAMPLE' AND state NOT IN ('COMPLETED', 'FAILED')) AS open, "
        "bool_or(phase = 'OUT_OF_SAMPLE') AS has_oos FROM api.sweep_children WHERE sweep_id = $1 AND window_index = $2",
        sweep_id,
        window,
    )
    assert row is not None  # an aggregate always answers one row
    return int(row["open"]), bool(row["has_oos"])


def _order(direction: str) -> str:
    return "DESC" if direction == "maximize" else "ASC"


async def ranked(
    conn: Connection,
    sweep_id: UUID,
    direction: str,
    limit: int,
    phases: tuple[str, ...] = (SweepPhase.SWEEP, SweepPhase.IN_SAMPLE),
    window: int | None = None,
    completed_only: bool = False,
) -> list[ChildRecord]:
    """Children best first (undefined objective last; ties: the lower combination); the leaderboard."""
    return _children(
        list(
            await conn.fetch(
                f"SELECT {CHILD_COLUMNS} FROM api.sweep_children WHERE sweep_id = $1 AND phase = ANY($2::text[]) "
                "AND ($3::int IS NULL OR window_index = $3) AND (NOT $4 OR state = 'COMPLETED') "
                "AND state <> 'SCREENED_OUT' "
                f"ORDER BY (state = 'COMPLETED') DESC, objective_value {_order(direction)} NULLS LAST, "
                "window_index NULLS FIRST, combination LIMIT $5",
                sweep_id,
                list(phases),
                window,
                completed_only,
                limit,
            )
        )
    )


async def max_n(conn: Connection, sweep_id: UUID) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(n), -1) FROM api.sweep_children WHERE sweep_id = $1", sweep_id))


async def out_of_sample(conn: Connection, sweep_id: UUID) -> list[ChildRecord]:
    return _children(
        list(
            await conn.fetch(
                f"SELECT {CHILD_COLUMNS} FROM api.sweep_children WHERE sweep_id = $1 AND phase = 'OUT_OF_SAMPLE' "
                "ORDER BY window_index",
                sweep_id,
            )
        )
    )


async def window_counts(conn: Connection, sweep_id: UUID) -> dict[int, tuple[int, int]]:
    """Per window: in-sample children finished, in-sample children in all."""
    rows = await conn.fetch(
        "SELECT window_index, count(*) FILTER (WHERE state IN ('COMPLETED', 'FAILED')) AS done, count(*) AS total "
        "FROM api.sweep_children WHERE sweep_id = $1 AND phase = 'IN_SAMPLE' GROUP BY window_index",
        sweep_id,
    )
    return {int(r["window_index"]): (int(r["done"]), int(r["total"])) for r in rows}


async def set_status(
    conn: Connection, sweep_id: UUID, status: str, at: datetime, error_message: str | None = None
) -> None:
    await conn.execute(
        "UPDATE api.sweeps SET status = $2, error_message = coalesce($4, error_message), updated_at = $3, "
        "completed_at = CASE WHEN $2 IN ('COMPLETED', 'FAILED') THEN $3 ELSE completed_at END WHERE id = $1",
        sweep_id,
        status,
        at,
        error_message,
    )
