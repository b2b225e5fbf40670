"""api.instruments: the tradeable assets everyone's backtests and imports refer to."""

from __future__ import annotations

import asyncpg

from shared.db.reads import fetch_instruments
from shared.db.types import Connection
from shared.models import Instrument


class DuplicateInstrument(Exception):
    pass


async def insert_instrument(conn: Connection, instrument: Instrument) -> None:
    try:
        await conn.execute(
            "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
            "trading_hours, margin_requirement) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)",
            instrument.id, instrument.symbol, instrument.exchange, instrument.asset_class.value,
            instrument.currency.value, instrument.tick_size, instrument.lot_size,
            instrument.trading_hours.model_dump_json(), instrument.margin_requirement,
        )  # fmt: skip
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateInstrument(f"instrument {instrument.id} is already registered") from exc


async def get_instrument(conn: Connection, instrument_id: str) -> Instrument | None:
    found = await fetch_instruments(conn, [instrument_id])
    row = found.get(instrument_id)
    return Instrument.model_validate(row.model_dump()) if row else None


async def list_instruments(conn: Connection) -> list[Instrument]:
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM api.instruments ORDER BY id")]
    found = await fetch_instruments(conn, ids)
    return [Instrument.model_validate(found[i].model_dump()) for i in ids]
