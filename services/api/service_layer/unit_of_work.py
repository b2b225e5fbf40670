"""The gateway's unit of work: the repositories a use case reads and writes, and the outbox it publishes
through, committed together or not at all (after cosmicpython's `allocation/service_layer/unit_of_work.py`).

`PostgresUnitOfWork` is the real one, on one connection; `services/api/service_layer/memory.py` holds the
in-memory fake the unit tests run the use cases against.
"""

from __future__ import annotations

import abc
from datetime import UTC, date, datetime, time
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from asyncpg.transaction import Transaction

from services.api.repository import backtests as backtest_rows
from services.api.repository import sweeps as sweep_rows
from services.api.repository.strategies import get_strategy
from services.api.repository.sweeps import ChildRecord, SweepRecord
from shared.contracts.events import BacktestRequested, Envelope
from shared.contracts.models.enums import SweepPhase
from shared.contracts.models.strategy import TradingStrategy
from shared.domain.benchmark import BenchmarkChoice
from shared.platform.db.reads import benchmark_choice, count_sessions_with_bars, fetch_instruments
from shared.platform.db.types import Connection
from shared.platform.kafka.outbox import enqueue


class StrategyRepository(Protocol):
    async def get(self, user_id: UUID, strategy_id: UUID) -> TradingStrategy | None:
        """The user's strategy; None when there is none of that id among theirs."""
        ...


class MarketFacts(Protocol):
    """What the other services own that a submission is checked against (read-only)."""

    async def known_instruments(self, instrument_ids: list[str]) -> set[str]: ...

    async def sessions_with_bars(self, instrument_id: str, timeframe: str, start: date, end: date) -> int:
        """Trading days (UTC dates) holding bars from `start` to `end`, both included."""
        ...

    async def benchmark(self, name: str, start: date, end: date) -> BenchmarkChoice: ...


class BacktestRepository(Protocol):
    async def add_configuration(self, request: BacktestRequested) -> None: ...

    async def record_requested(self, request: BacktestRequested, at: datetime) -> bool:
        """PENDING in the status read model; False when the backtest is known already."""
        ...


class SweepRepository(Protocol):
    async def add(self, sweep: SweepRecord, children: list[ChildRecord]) -> None: ...

    async def add_children(self, children: list[ChildRecord]) -> None: ...

    async def for_update(self, sweep_id: UUID) -> SweepRecord | None:
        """The sweep, locked until the unit of work ends: every change to one sweep is serialised."""
        ...

    async def of_backtest(self, backtest_id: UUID) -> UUID | None:
        """The sweep whose child `backtest_id` is, if any."""
        ...

    async def next_queued(self, sweep_id: UUID, limit: int) -> list[ChildRecord]: ...

    async def mark_published(self, sweep_id: UUID, n: int, key: str, at: datetime) -> None: ...

    async def finish_child(
        self,
        backtest_id: UUID,
        state: str,
        objective_value: float | None,
        metrics: dict[str, Any] | None,
        trades_count: int | None,
        error_message: str | None,
        at: datetime,
    ) -> ChildRecord | None:
        """PUBLISHED -> COMPLETED / FAILED; None when it is no child or was finished already."""
        ...

    async def open_children(self, sweep_id: UUID) -> int: ...

    async def window_open(self, sweep_id: UUID, window: int) -> tuple[int, bool]: ...

    async def ranked(
        self,
        sweep_id: UUID,
        direction: str,
        limit: int,
        phases: tuple[str, ...] = (SweepPhase.SWEEP, SweepPhase.IN_SAMPLE),
        window: int | None = None,
        completed_only: bool = False,
    ) -> list[ChildRecord]: ...

    async def max_n(self, sweep_id: UUID) -> int: ...

    async def out_of_sample(self, sweep_id: UUID) -> list[ChildRecord]: ...

    async def state_counts(self, sweep_id: UUID) -> dict[str, int]: ...

    async def set_status(self, sweep_id: UUID, status: str, at: datetime, error_message: str | None = None) -> None: ...


class Outbox(Protocol):
    async def publish(self, event: Envelope[Any], key: str) -> None:
        """Sent to Kafka only if the unit of work commits."""
        ...


class UnitOfWork(abc.ABC):
    """`async with uow:` starts the unit; `await uow.commit()` keeps its writes and publications; leaving the
    block without committing (or with an exception) discards them. Reads may also happen outside the block."""

    strategies: StrategyRepository
    market: MarketFacts
    backtests: BacktestRepository
    sweeps: SweepRepository
    outbox: Outbox

    async def __aenter__(self) -> Self:
        await self._begin()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.rollback()

    @abc.abstractmethod
    async def _begin(self) -> None: ...

    @abc.abstractmethod
    async def commit(self) -> None: ...

    @abc.abstractmethod
    async def rollback(self) -> None:
        """Discards what was not committed (a no-op after a commit)."""


class _PgStrategies:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def get(self, user_id: UUID, strategy_id: UUID) -> TradingStrategy | None:
        return await get_strategy(self.conn, user_id, strategy_id)


class _PgMarket:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def known_instruments(self, instrument_ids: list[str]) -> set[str]:
        return set(await fetch_instruments(self.conn, instrument_ids))

    async def sessions_with_bars(self, instrument_id: str, timeframe: str, start: date, end: date) -> int:
        lo, hi = datetime.combine(start, time.min, UTC), datetime.combine(end, time.max, UTC)
        return await count_sessions_with_bars(self.conn, instrument_id, timeframe, lo, hi)

    async def benchmark(self, name: str, start: date, end: date) -> BenchmarkChoice:
        return await benchmark_choice(self.conn, name, start, end)


class _PgBacktests:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add_configuration(self, request: BacktestRequested) -> None:
        await backtest_rows.insert_configuration(self.conn, request)

    async def record_requested(self, request: BacktestRequested, at: datetime) -> bool:
        return await backtest_rows.record_requested(self.conn, request, at)


class _PgSweeps:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, sweep: SweepRecord, children: list[ChildRecord]) -> None:
        await sweep_rows.insert_sweep(self.conn, sweep)
        await sweep_rows.insert_children(self.conn, children)

    async def add_children(self, children: list[ChildRecord]) -> None:
        await sweep_rows.insert_children(self.conn, children)

    async def for_update(self, sweep_id: UUID) -> SweepRecord | None:
        return await sweep_rows.sweep_for_update(self.conn, sweep_id)

    async def of_backtest(self, backtest_id: UUID) -> UUID | None:
        found: UUID | None = await self.conn.fetchval(
            "SELECT sweep_id FROM api.sweep_children WHERE backtest_id = $1", backtest_id
        )
        return found

    async def next_queued(self, sweep_id: UUID, limit: int) -> list[ChildRecord]:
        return await sweep_rows.next_queued(self.conn, sweep_id, limit)

    async def mark_published(self, sweep_id: UUID, n: int, key: str, at: datetime) -> None:
        await sweep_rows.mark_published(self.conn, sweep_id, n, key, at)

    async def finish_child(
        self,
        backtest_id: UUID,
        state: str,
        objective_value: float | None,
        metrics: dict[str, Any] | None,
        trades_count: int | None,
        error_message: str | None,
        at: datetime,
    ) -> ChildRecord | None:
        return await sweep_rows.finish_child(
            self.conn, backtest_id, state, objective_value, metrics, trades_count, error_message, at
        )

    async def open_children(self, sweep_id: UUID) -> int:
        return await sweep_rows.open_children(self.conn, sweep_id)

    async def window_open(self, sweep_id: UUID, window: int) -> tuple[int, bool]:
        return await sweep_rows.window_open(self.conn, sweep_id, window)

    async def ranked(
        self,
        sweep_id: UUID,
        direction: str,
        limit: int,
        phases: tuple[str, ...] = (SweepPhase.SWEEP, SweepPhase.IN_SAMPLE),
        window: int | None = None,
        completed_only: bool = False,
    ) -> list[ChildRecord]:
        return await sweep_rows.ranked(self.conn, sweep_id, direction, limit, phases, window, completed_only)

    async def max_n(self, sweep_id: UUID) -> int:
        return await sweep_rows.max_n(self.conn, sweep_id)

    async def out_of_sample(self, sweep_id: UUID) -> list[ChildRecord]:
        return await sweep_rows.out_of_sample(self.conn, sweep_id)

    async def state_counts(self, sweep_id: UUID) -> dict[str, int]:
        return (await sweep_rows.state_counts(self.conn, [sweep_id]))[sweep_id]

    async def set_status(self, sweep_id: UUID, status: str, at: datetime, error_message: str | None = None) -> None:
        await sweep_rows.set_status(self.conn, sweep_id, status, at, error_message)


class _PgOutbox:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def publish(self, event: Envelope[Any], key: str) -> None:
        await enqueue(self.conn, "api", event, key=key)


class PostgresUnitOfWork(UnitOfWork):
    """On one connection: the block is a transaction (a savepoint when the caller has one open already, as
    the inbox's idempotent handler does); the outbox is `api.outbox`, sent by the relay after the commit."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.strategies = _PgStrategies(conn)
        self.market = _PgMarket(conn)
        self.backtests = _PgBacktests(conn)
        self.sweeps = _PgSweeps(conn)
        self.outbox = _PgOutbox(conn)
        self._transaction: Transaction | None = None

    async def _begin(self) -> None:
        self._transaction = self.conn.transaction()
        await self._transaction.start()

    async def commit(self) -> None:
        if self._transaction is not None:
            await self._transaction.commit()
            self._transaction = None

    async def rollback(self) -> None:
        if self._transaction is not None:
            await self._transaction.rollback()
            self._transaction = None
