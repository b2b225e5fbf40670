"""The facts a request is checked against, read from the tables that own them (see shared.platform.db.reads)."""

from __future__ import annotations

from uuid import UUID

from services.engine.domain.request_check import StrategyFacts, SweepFacts
from shared.platform.db import reads
from shared.platform.db.types import Connection


class TableFacts:
    """`RequestFacts` over one connection: api.users, api.strategies, api.sweeps, api.instruments."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def user_exists(self, user_id: UUID) -> bool:
        return await reads.user_exists(self.conn, user_id)

    async def strategy(self, strategy_id: UUID) -> StrategyFacts | None:
        row = await reads.fetch_strategy_state(self.conn, strategy_id)
        return StrategyFacts(**dict(row)) if row is not None else None

    async def sweep(self, sweep_id: UUID) -> SweepFacts | None:
        row = await reads.fetch_sweep_state(self.conn, sweep_id)
        return SweepFacts(**dict(row)) if row is not None else None

    async def known_instruments(self, instrument_ids: list[str]) -> set[str]:
        return set(await reads.fetch_instruments(self.conn, instrument_ids))
