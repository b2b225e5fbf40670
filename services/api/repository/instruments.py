"""api.instruments: the tradeable assets everyone's backtests and imports refer to.

Shared by all users, so writes are guarded: whoever registers an instrument first owns it; registering it
again overwrites it and is for its owner or an admin only (api.may_write_instrument).
"""

from __future__ import annotations

import enum
from uuid import UUID

from services.api.domain.listing import Filter
from services.api.repository.listing import page
from shared.contracts.models import Instrument
from shared.platform.db.reads import fetch_instruments, writer_refused
from shared.platform.db.types import Connection


class InstrumentNotWritable(Exception):
    """The caller is neither the instrument's owner nor an admin."""


class Registered(enum.Enum):
    CREATED = "created"
    REPLACED = "replaced"


# One statement, so two concurrent registrations cannot both "create": the conflict branch updates only
# when the rule allows it, and returns no row otherwise. xmax = 0 tells a fresh insert from an update.
UPSERT_SQL = (
    "INSERT INTO api.instruments AS i (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
    "trading_hours, margin_requirement, owner_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10) "
    "ON CONFLICT (id) DO UPDATE SET symbol = EXCLUDED.symbol, exchange = EXCLUDED.exchange, "
    "asset_class = EXCLUDED.asset_class, currency = EXCLUDED.currency, tick_size = EXCLUDED.tick_size, "
    "lot_size = EXCLUDED.lot_size, trading_hours = EXCLUDED.trading_hours, "
    "margin_requirement = EXCLUDED.margin_requirement WHERE api.may_write_instrument($10, i.id) "
    "RETURNING (xmax = 0) AS created"
)


async def register_instrument(conn: Connection, instrument: Instrument, caller: UUID) -> Registered:
    """Create the instrument owned by `caller`, or overwrite it if `caller` may (its owner keeps it)."""
    created = await conn.fetchval(
        UPSERT_SQL,
        instrument.id,
        instrument.symbol,
        instrument.exchange,
        instrument.asset_class.value,
        instrument.currency.value,
        instrument.tick_size,
        instrument.lot_size,
        instrument.trading_hours.model_dump_json(),
        instrument.margin_requirement,
        caller,
    )
    if created is None:
        raise InstrumentNotWritable(writer_refused(instrument.id))
    return Registered.CREATED if created else Registered.REPLACED


async def get_instrument(conn: Connection, instrument_id: str) -> Instrument | None:
    found = await fetch_instruments(conn, [instrument_id])
    row = found.get(instrument_id)
    return Instrument.model_validate(row.model_dump()) if row else None


async def list_instruments(
    conn: Connection, filters: list[Filter], limit: int, offset: int
) -> tuple[list[Instrument], int]:
    """One page of the registered instruments, by id, and how many pass the filters in all."""
    rows, total = await page(conn, "api.instruments", "id", filters, "id", limit, offset)
    ids = [r["id"] for r in rows]
    found = await fetch_instruments(conn, ids)
    return [Instrument.model_validate(found[i].model_dump()) for i in ids], total
