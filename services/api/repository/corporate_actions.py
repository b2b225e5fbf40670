"""api.corporate_actions: the gateway writes them (user-defined reference data, beside the instruments);
ingest and the engine read them through shared.platform.db.reads."""

from __future__ import annotations

from uuid import UUID

from shared.contracts.models.corporate_action import CorporateAction
from shared.platform.db.types import Connection


async def upsert_actions(conn: Connection, instrument_id: str, actions: list[CorporateAction], user: UUID) -> None:
    """Insert the actions; one already on record (same type and ex_date) takes the new value."""
    await conn.executemany(
        "INSERT INTO api.corporate_actions (instrument_id, type, ex_date, ratio, amount, created_by) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (instrument_id, type, ex_date) DO UPDATE SET "
        "ratio = EXCLUDED.ratio, amount = EXCLUDED.amount, created_by = EXCLUDED.created_by, created_at = now()",
        [(instrument_id, a.type.value, a.ex_date, a.ratio, a.amount, user) for a in actions],
    )
