"""Where a run's result is kept, as the use case (services.engine.backtest_job) sees it: a unit of work per
run, PostgreSQL here and an in-memory fake in the unit tests.

`RunStore.session(result_id)` holds the run of one result for as long as it is open (PostgreSQL: a
session advisory lock on one connection, through which every write of the result goes); what one
transaction of it writes commits together, the outcome's event (the outbox row `announce` enqueues
through `session.conn`) with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from services.engine import repository
from services.engine.domain.ledger import TradeRecord
from services.engine.domain.outcome import BacktestOutcome
from services.engine.input_cache import InputCache
from services.engine.inputs import Inputs, cached_inputs
from services.engine.job import BacktestJob
from shared.platform.db.types import Connection


class RunSession(Protocol):
    """One run's unit of work."""

    @property
    def conn(self) -> Any:
        """What `announce` enqueues the outcome's event through (in the current transaction)."""

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Any]: ...

    async def claim(self, job: BacktestJob) -> str:
        """Create the PENDING result if needed; its status (a redelivery finds it done)."""

    async def attempts(self, result_id: UUID, run_by: UUID) -> int: ...

    async def mark_running(self, result_id: UUID, at: datetime, run_by: UUID) -> None: ...

    async def restart_running(self, result_id: UUID, at: datetime, run_by: UUID) -> None: ...

    async def inputs(self, job: BacktestJob, cache: InputCache | None) -> Inputs: ...

    async def set_data_as_of(self, result_id: UUID, as_of: datetime) -> None: ...

    async def prepare_snapshots(self, lo: datetime, hi: datetime) -> None:
        """Make room for snapshots stamped lo..hi (PostgreSQL: their partitions)."""

    async def store_snapshots(self, batches: AsyncIterable[list[tuple[Any, ...]]]) -> int: ...

    async def complete(
        self, job: BacktestJob, outcome: BacktestOutcome, trades: list[TradeRecord], at: datetime
    ) -> None:
        """The trades and the COMPLETED result."""

    async def fail(self, result_id: UUID, message: str, at: datetime, manifest: dict[str, Any] | None) -> None: ...


class RunStore(Protocol):
    def session(self, result_id: UUID) -> contextlib.AbstractAsyncContextManager[RunSession]:
        """The unit of work of `result_id`'s run, held by this process while open."""

    async def set_progress(self, result_id: UUID, pct: float) -> None:
        """Progress of a RUNNING result (its own short transaction)."""


class PgRunSession:
    """RunSession on one pooled connection that holds the run's advisory lock."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def conn(self) -> Connection:
        return self._conn

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._conn.transaction()

    async def claim(self, job: BacktestJob) -> str:
        return await repository.claim_result(
            self._conn, job.backtest_id, job.configuration_id, job.user_id, job.request
        )

    async def attempts(self, result_id: UUID, run_by: UUID) -> int:
        return await repository.attempts(self._conn, result_id, run_by)

    async def mark_running(self, result_id: UUID, at: datetime, run_by: UUID) -> None:
        await repository.mark_running(self._conn, result_id, at, run_by)

    async def restart_running(self, result_id: UUID, at: datetime, run_by: UUID) -> None:
        await repository.restart_running(self._conn, result_id, at, run_by)

    async def inputs(self, job: BacktestJob, cache: InputCache | None) -> Inputs:
        return await cached_inputs(self._conn, job, cache)

    async def set_data_as_of(self, result_id: UUID, as_of: datetime) -> None:
        await repository.set_data_as_of(self._conn, result_id, as_of)

    async def prepare_snapshots(self, lo: datetime, hi: datetime) -> None:
        await repository.ensure_snapshot_partitions(self._conn, lo, hi)

    async def store_snapshots(self, batches: AsyncIterable[list[tuple[Any, ...]]]) -> int:
        return await repository.copy_snapshot_records(self._conn, batches)

    async def complete(
        self, job: BacktestJob, outcome: BacktestOutcome, trades: list[TradeRecord], at: datetime
    ) -> None:
        await repository.write_trades(self._conn, job.backtest_id, trades)
        await repository.mark_completed(
            self._conn,
            job.backtest_id,
            at,
            (outcome.trades_count, outcome.winning_trades, outcome.losing_trades),
            outcome.metrics or {},
            outcome.warnings,
            any("sharpe_ratio" in w for w in outcome.warnings),
            outcome.series,
            outcome.manifest,
            open_trades=(outcome.open_trades, outcome.open_pnl),
            benchmark_instrument_id=outcome.benchmark_instrument_id,
        )

    async def fail(self, result_id: UUID, message: str, at: datetime, manifest: dict[str, Any] | None) -> None:
        await repository.mark_failed(self._conn, result_id, message, at, manifest)


class PgRunStore:
    """RunStore on the engine's connection pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @contextlib.asynccontextmanager
    async def session(self, result_id: UUID) -> AsyncIterator[RunSession]:
        async with self.pool.acquire() as conn, repository.run_lock(conn, result_id):
            yield PgRunSession(conn)

    async def set_progress(self, result_id: UUID, pct: float) -> None:
        async with self.pool.acquire() as conn:
            await repository.set_progress(conn, result_id, pct)
