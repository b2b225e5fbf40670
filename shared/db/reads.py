"""Cross-service reads: the only queries a service runs on another service's tables (read-only grants).

The owner of a table may change it; keeping every foreign read here makes that change visible.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from shared.db.types import Connection


class InstrumentRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    symbol: str
    exchange: str
    asset_class: str
    currency: str
    tick_size: Decimal
    lot_size: int
    trading_hours: dict[str, Any]
    margin_requirement: Decimal


class BarRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


async def fetch_instruments(conn: Connection, ids: list[str]) -> dict[str, InstrumentRow]:
    """api.instruments by id (readers: ingest, engine)."""
    rows = await conn.fetch(
        "SELECT id, symbol, exchange, asset_class, currency, tick_size, lot_size, trading_hours, margin_requirement "
        "FROM api.instruments WHERE id = ANY($1::text[])",
        ids,
    )
    return {r["id"]: InstrumentRow(**{**dict(r), "trading_hours": _json(r["trading_hours"])}) for r in rows}


def _json(value: Any) -> Any:
    """jsonb arrives as text unless the connection has a JSON codec."""
    return json.loads(value) if isinstance(value, str) else value


async def fetch_instruments_by_symbol(conn: Connection, symbol: str) -> list[InstrumentRow]:
    """Instruments whose symbol is `symbol` (a benchmark is named by symbol, e.g. SPY)."""
    rows = await conn.fetch("SELECT id FROM api.instruments WHERE symbol = $1 ORDER BY id", symbol)
    found = await fetch_instruments(conn, [r["id"] for r in rows])
    return [found[r["id"]] for r in rows]


BARS_SQL = (
    'SELECT "timestamp", open, high, low, close, volume FROM ingest.market_data '
    'WHERE instrument_id = $1 AND timeframe = $2 AND "timestamp" >= $3 AND "timestamp" < $4 ORDER BY "timestamp"'
)


async def stream_bars(
    conn: Connection, instrument_id: str, timeframe: str, start: datetime, end: datetime, batch: int = 50_000
) -> AsyncIterator[list[asyncpg.Record]]:
    """ingest.market_data in time order, a batch of rows at a time (a server-side cursor: memory stays
    flat for years of minute bars). Must run inside a transaction. Readers: engine."""
    cursor = await conn.cursor(BARS_SQL, instrument_id, timeframe, start, end)
    while rows := await cursor.fetch(batch):
        yield rows


async def count_sessions_with_bars(
    conn: Connection, instrument_id: str, timeframe: str, start: datetime, end: datetime
) -> int:
    """Distinct UTC dates holding bars: the "at least 30 trading days of data" check. Readers: api, engine."""
    value = await conn.fetchval(
        "SELECT count(DISTINCT (\"timestamp\" AT TIME ZONE 'UTC')::date) FROM ingest.market_data "
        'WHERE instrument_id = $1 AND timeframe = $2 AND "timestamp" >= $3 AND "timestamp" < $4',
        instrument_id,
        timeframe,
        start,
        end,
    )
    return int(value or 0)
