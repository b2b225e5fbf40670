"""api.backtest_configurations and the backtest status read model (api.backtest_status)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.api.domain.listing import Filter
from services.api.domain.read_models import BacktestView
from services.api.repository.listing import page
from shared.contracts.events import BacktestRequested
from shared.contracts.models.enums import BacktestStatus
from shared.platform.db.types import Connection

STATUS_COLUMNS = (
    "id, user_id, configuration_id, status, progress_pct, estimated_completion, error_message, submitted_at, "
    "updated_at, strategy_id, strategy_type, instrument_ids, start_date, end_date, imported"
)


async def insert_configuration(conn: Connection, request: BacktestRequested) -> None:
    config = request.configuration
    await conn.execute(
        "INSERT INTO api.backtest_configurations (id, user_id, strategy_id, instrument_ids, start_date, end_date, "
        "initial_capital, position_size_pct, commission_model, data_source, benchmark_symbol, price_adjustment) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12)",
        config.id,
        request.user_id,
        config.strategy_id,
        config.instrument_ids,
        config.start_date,
        config.end_date,
        config.initial_capital,
        config.position_size_pct,
        config.commission_model.model_dump_json(),
        config.data_source.value,
        config.benchmark_symbol,
        config.price_adjustment.value,
    )


async def record_requested(conn: Connection, request: BacktestRequested, submitted_at: datetime) -> bool:
    """PENDING in the read model; also for requests published by outside producers. False if known."""
    inserted = await conn.fetchval(
        "INSERT INTO api.backtest_status (id, user_id, configuration_id, status, submitted_at, updated_at, "
        "strategy_id, strategy_type, instrument_ids, start_date, end_date) "
        "VALUES ($1, $2, $3, 'PENDING', $4, $4, $5, $6, $7, $8, $9) "
        # a progress event seen first made a bare row: fill in what was run, keep the status
        "ON CONFLICT (id) DO UPDATE SET configuration_id = EXCLUDED.configuration_id, "
        "strategy_id = EXCLUDED.strategy_id, strategy_type = EXCLUDED.strategy_type, "
        "instrument_ids = EXCLUDED.instrument_ids, start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date "
        "WHERE api.backtest_status.strategy_type IS NULL RETURNING true",
        request.backtest_id,
        request.user_id,
        request.configuration.id,
        submitted_at,
        request.configuration.strategy_id,
        request.strategy.strategy_type,
        request.configuration.instrument_ids,
        request.configuration.start_date,
        request.configuration.end_date,
    )
    return bool(inserted)


async def record_seen(conn: Connection, backtest_id: UUID, user_id: UUID, seen_at: datetime) -> None:
    """A bare PENDING row for a backtest whose request event has not arrived yet (topics are not ordered
    with each other); `record_requested` fills in the details later."""
    await conn.execute(
        "INSERT INTO api.backtest_status (id, user_id, status, submitted_at, updated_at) "
        "VALUES ($1, $2, 'PENDING', $3, $3) ON CONFLICT (id) DO NOTHING",
        backtest_id,
        user_id,
        seen_at,
    )


async def status_row(
    conn: Connection, user_id: UUID, backtest_id: UUID, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {STATUS_COLUMNS} FROM api.backtest_status WHERE id = $1 AND user_id = $2{lock}",
        backtest_id,
        user_id,
    )


async def list_status(
    conn: Connection, user_id: UUID, filters: list[Filter], limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """One page of the user's backtests, newest first, and how many pass the filters in all."""
    mine = [Filter("user_id = ?", user_id), *filters]
    return await page(conn, "api.backtest_status", STATUS_COLUMNS, mine, "submitted_at DESC, id", limit, offset)


async def view_for_update(conn: Connection, backtest_id: UUID) -> BacktestView | None:
    row = await conn.fetchrow(
        "SELECT status, progress_pct, estimated_completion, error_message FROM api.backtest_status "
        "WHERE id = $1 FOR UPDATE",
        backtest_id,
    )
    if row is None:
        return None
    return BacktestView(
        BacktestStatus(row["status"]), float(row["progress_pct"]), row["estimated_completion"], row["error_message"]
    )


async def save_view(conn: Connection, backtest_id: UUID, view: BacktestView) -> None:
    await conn.execute(
        "UPDATE api.backtest_status SET status = $2, progress_pct = $3, estimated_completion = $4, "
        "error_message = $5, updated_at = now() WHERE id = $1",
        backtest_id,
        view.status,
        view.progress_pct,
        view.estimated_completion,
        view.error_message,
    )
    await conn.execute("SELECT pg_notify('api_backtest_status', $1)", str(backtest_id))


def status_fields(row: asyncpg.Record) -> dict[str, Any]:
    values = dict(row)
    values["progress_pct"] = float(values["progress_pct"])
    values["instrument_ids"] = list(values["instrument_ids"] or [])
    return values
