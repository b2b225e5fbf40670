"""An in-memory unit of work: the same repositories as `PostgresUnitOfWork`, on dicts, for fast tests of
the use cases. A unit that ends without a commit leaves the store as it found it; the outbox keeps what
was committed, in order."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from services.api.repository.sweeps import ChildRecord, SweepRecord
from services.api.service_layer.unit_of_work import UnitOfWork
from shared.contracts.events import BacktestRequested, Envelope
from shared.contracts.models.enums import BacktestStatus, SweepChildState, SweepPhase, Timeframe
from shared.contracts.models.strategy import TradingStrategy
from shared.domain.benchmark import BenchmarkCandidate, BenchmarkChoice, resolve_benchmark

OPEN_STATES = (SweepChildState.QUEUED, SweepChildState.PUBLISHED)
FINISHED_STATES = (BacktestStatus.COMPLETED.value, BacktestStatus.FAILED.value)


@dataclass
class MemoryStore:
    """Everything a unit of work reads and writes. Facts owned by other services (instruments, bars) are
    set up by the test; the rest is what the use cases wrote."""

    strategies: dict[UUID, TradingStrategy] = field(default_factory=dict)
    instruments: dict[str, str] = field(default_factory=dict)  # id -> symbol
    bar_days: dict[tuple[str, str], set[date]] = field(default_factory=dict)  # (instrument, timeframe) -> days
    configurations: dict[UUID, BacktestRequested] = field(default_factory=dict)
    statuses: dict[UUID, tuple[BacktestRequested, datetime]] = field(default_factory=dict)
    sweeps: dict[UUID, SweepRecord] = field(default_factory=dict)
    children: dict[tuple[UUID, int], ChildRecord] = field(default_factory=dict)
    outbox: list[tuple[Envelope[Any], str]] = field(default_factory=list)

    def add_bars(self, instrument_id: str, days: list[date], timeframe: Timeframe = Timeframe.BAR_DAILY) -> None:
        self.bar_days.setdefault((instrument_id, timeframe.value), set()).update(days)

    def sweep_children(self, sweep_id: UUID) -> list[ChildRecord]:
        return sorted((c for (s, _n), c in self.children.items() if s == sweep_id), key=lambda c: c.n)


class _Strategies:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def get(self, user_id: UUID, strategy_id: UUID) -> TradingStrategy | None:
        strategy = self.store.strategies.get(strategy_id)
        return strategy if strategy is not None and strategy.user_id == user_id else None


class _Market:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def known_instruments(self, instrument_ids: list[str]) -> set[str]:
        return {i for i in instrument_ids if i in self.store.instruments}

    async def sessions_with_bars(self, instrument_id: str, timeframe: str, start: date, end: date) -> int:
        return sum(1 for d in self.store.bar_days.get((instrument_id, timeframe), set()) if start <= d <= end)

    async def benchmark(self, name: str, start: date, end: date) -> BenchmarkChoice:
        candidates = [
            BenchmarkCandidate(iid, symbol, await self.sessions_with_bars(iid, Timeframe.BAR_DAILY.value, start, end))
            for iid, symbol in sorted(self.store.instruments.items())
            if name in (iid, symbol)
        ]
        return resolve_benchmark(name, candidates)


class _Backtests:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def add_configuration(self, request: BacktestRequested) -> None:
        self.store.configurations[request.configuration.id] = request

    async def record_requested(self, request: BacktestRequested, at: datetime) -> bool:
        if request.backtest_id in self.store.statuses:
            return False
        self.store.statuses[request.backtest_id] = (request, at)
        return True


class _Sweeps:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def add(self, sweep: SweepRecord, children: list[ChildRecord]) -> None:
        self.store.sweeps[sweep.id] = sweep
        await self.add_children(children)

    async def add_children(self, children: list[ChildRecord]) -> None:
        for child in children:
            assert (child.sweep_id, child.n) not in self.store.children, "(sweep_id, n) is the primary key"
            self.store.children[(child.sweep_id, child.n)] = child

    async def for_update(self, sweep_id: UUID) -> SweepRecord | None:
        return self.store.sweeps.get(sweep_id)

    async def of_backtest(self, backtest_id: UUID) -> UUID | None:
        return next((c.sweep_id for c in self.store.children.values() if c.backtest_id == backtest_id), None)

    async def next_queued(self, sweep_id: UUID, limit: int) -> list[ChildRecord]:
        queued = [c for c in self.store.sweep_children(sweep_id) if c.state == SweepChildState.QUEUED]
        return sorted(queued, key=lambda c: (c.priority, c.n))[:limit]

    def _update(self, child: ChildRecord, **changes: Any) -> ChildRecord:
        changed = child.model_copy(update=changes)
        self.store.children[(child.sweep_id, child.n)] = changed
        return changed

    async def mark_published(self, sweep_id: UUID, n: int, key: str, at: datetime) -> None:
        child = self.store.children.get((sweep_id, n))
        if child is not None and child.state == SweepChildState.QUEUED:
            self._update(child, state=SweepChildState.PUBLISHED, kafka_key=key, published_at=at)

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
        for child in self.store.children.values():
            if child.backtest_id == backtest_id and child.state == SweepChildState.PUBLISHED:
                return self._update(
                    child,
                    state=state,
                    objective_value=objective_value,
                    metrics=metrics,
                    trades_count=trades_count,
                    error_message=error_message,
                    finished_at=at,
                )
        return None

    async def open_children(self, sweep_id: UUID) -> int:
        return sum(1 for c in self.store.sweep_children(sweep_id) if c.state in OPEN_STATES)

    async def window_open(self, sweep_id: UUID, window: int) -> tuple[int, bool]:
        mine = [c for c in self.store.sweep_children(sweep_id) if c.window_index == window]
        still_open = sum(1 for c in mine if c.phase == SweepPhase.IN_SAMPLE and c.state not in FINISHED_STATES)
        return still_open, any(c.phase == SweepPhase.OUT_OF_SAMPLE for c in mine)

    async def ranked(
        self,
        sweep_id: UUID,
        direction: str,
        limit: int,
        phases: tuple[str, ...] = (SweepPhase.SWEEP, SweepPhase.IN_SAMPLE),
        window: int | None = None,
        completed_only: bool = False,
    ) -> list[ChildRecord]:
        sign = -1 if direction == "maximize" else 1
        found = [
            c
            for c in self.store.sweep_children(sweep_id)
            if c.phase in phases
            and (window is None or c.window_index == window)
            and (not completed_only or c.state == BacktestStatus.COMPLETED.value)
            and c.state != SweepChildState.SCREENED_OUT
        ]

        def order(c: ChildRecord) -> tuple[Any, ...]:  # the SQL's ORDER BY
            value = c.objective_value
            return (
                c.state != BacktestStatus.COMPLETED.value,
                value is None,
                sign * value if value is not None else 0.0,
                c.window_index is not None,
                c.window_index or 0,
                c.combination,
            )

        return sorted(found, key=order)[:limit]

    async def max_n(self, sweep_id: UUID) -> int:
        return max((c.n for c in self.store.sweep_children(sweep_id)), default=-1)

    async def out_of_sample(self, sweep_id: UUID) -> list[ChildRecord]:
        oos = [c for c in self.store.sweep_children(sweep_id) if c.phase == SweepPhase.OUT_OF_SAMPLE]
        return sorted(oos, key=lambda c: c.window_index or 0)

    async def state_counts(self, sweep_id: UUID) -> dict[str, int]:
        counts: dict[str, int] = {}
        for child in self.store.sweep_children(sweep_id):
            counts[child.state] = counts.get(child.state, 0) + 1
        return counts

    async def set_status(self, sweep_id: UUID, status: str, at: datetime, error_message: str | None = None) -> None:
        sweep = self.store.sweeps[sweep_id]
        finished = status in FINISHED_STATES
        self.store.sweeps[sweep_id] = sweep.model_copy(
            update={
                "status": status,
                "error_message": error_message or sweep.error_message,
                "updated_at": at,
                "completed_at": at if finished else sweep.completed_at,
            }
        )


class _Outbox:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def publish(self, event: Envelope[Any], key: str) -> None:
        self.store.outbox.append((event, key))


class MemoryUnitOfWork(UnitOfWork):
    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()
        self.strategies = _Strategies(self.store)
        self.market = _Market(self.store)
        self.backtests = _Backtests(self.store)
        self.sweeps = _Sweeps(self.store)
        self.outbox = _Outbox(self.store)
        self.commits = 0
        self._before: MemoryStore | None = None

    async def _begin(self) -> None:
        self._before = copy.deepcopy(self.store)

    async def commit(self) -> None:
        self._before = None
        self.commits += 1

    async def rollback(self) -> None:
        if self._before is not None:  # put back what the unit found, in place (the repositories hold the store)
            self.store.__dict__.update(self._before.__dict__)
            self._before = None
