"""api.strategies: a user's trading strategies."""

from __future__ import annotations

import json
from uuid import UUID

import asyncpg

from services.api.domain.listing import Filter
from services.api.repository.listing import page
from shared.contracts.models.strategy import TradingStrategy
from shared.platform.db.types import Connection

COLUMNS = "id, user_id, name, strategy_type, parameters, status, created_at, updated_at"


class DuplicateStrategyName(Exception):
    pass


def _strategy(row: asyncpg.Record) -> TradingStrategy:
    values = dict(row)
    if isinstance(values["parameters"], str):
        values["parameters"] = json.loads(values["parameters"])
    return TradingStrategy.model_validate(values)


async def insert_strategy(conn: Connection, strategy: TradingStrategy) -> None:
    try:
        await conn.execute(
            f"INSERT INTO api.strategies ({COLUMNS}) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)",
            strategy.id,
            strategy.user_id,
            strategy.name,
            strategy.strategy_type,
            json.dumps(strategy.parameters),
            strategy.status.value,
            strategy.created_at,
            strategy.updated_at,
        )
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateStrategyName(f"you already have a strategy named {strategy.name!r}") from exc


async def get_strategy(
    conn: Connection, user_id: UUID, strategy_id: UUID, for_update: bool = False
) -> TradingStrategy | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM api.strategies WHERE id = $1 AND user_id = $2{lock}", strategy_id, user_id
    )
    return _strategy(row) if row else None


async def list_strategies(
    conn: Connection, user_id: UUID, filters: list[Filter], limit: int, offset: int
) -> tuple[list[TradingStrategy], int]:
    """One page of the user's strategies, oldest first, and how many pass the filters in all."""
    mine = [Filter("user_id = ?", user_id), *filters]
    rows, total = await page(conn, "api.strategies", COLUMNS, mine, "created_at, id", limit, offset)
    return [_strategy(r) for r in rows], total


async def save_strategy(conn: Connection, strategy: TradingStrategy) -> None:
    try:
        await conn.execute(
            "UPDATE api.strategies SET name = $3, parameters = $4::jsonb, status = $5 WHERE id = $1 AND user_id = $2",
            strategy.id,
            strategy.user_id,
            strategy.name,
            json.dumps(strategy.parameters),
            strategy.status.value,
        )
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateStrategyName(f"you already have a strategy named {strategy.name!r}") from exc
