"""An in-memory RunStore (services.engine.runs_store) for the engine's use case: results, trades and
snapshots in dicts, with transactions that roll back what they wrote when they raise."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from services.engine.domain.ledger import TradeRecord
from services.engine.domain.outcome import BacktestOutcome
from services.engine.input_cache import InputCache
from services.engine.inputs import Inputs
from services.engine.job import BacktestJob


@dataclass
class StoredResult:
    status: str = "PENDING"
    attempts: int = 0
    run_by: UUID | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error_message: str | None = None
    data_as_of: datetime | None = None
    outcome: BacktestOutcome | None = None
    manifest: dict[str, Any] | None = None


@dataclass
class MemoryRuns:
    """The store; `inputs` is what every job reads (as the database would give it)."""

    inputs: Inputs
    results: dict[UUID, StoredResult] = field(default_factory=dict)
    trades: dict[UUID, list[TradeRecord]] = field(default_factory=dict)
    snapshots: dict[UUID, list[tuple[Any, ...]]] = field(default_factory=dict)
    progress: list[float] = field(default_factory=list)
    reads: int = 0  # how many times the inputs were read (not from the cache)

    @contextlib.asynccontextmanager
    async def session(self, result_id: UUID) -> AsyncIterator[MemorySession]:
        yield MemorySession(self)

    async def set_progress(self, result_id: UUID, pct: float) -> None:
        if self.results[result_id].status == "RUNNING":
            self.progress.append(pct)


class MemorySession:
    def __init__(self, store: MemoryRuns) -> None:
        self.store = store
        self.in_transaction = False

    @property
    def conn(self) -> MemorySession:
        return self

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        saved = copy.deepcopy((self.store.results, self.store.trades, self.store.snapshots))
        self.in_transaction = True
        try:
            yield
        except BaseException:
            self.store.results, self.store.trades, self.store.snapshots = saved
            raise
        finally:
            self.in_transaction = False

    def _result(self, result_id: UUID) -> StoredResult:
        return self.store.results[result_id]

    async def claim(self, job: BacktestJob) -> str:
        return self.store.results.setdefault(job.backtest_id, StoredResult()).status

    async def attempts(self, result_id: UUID, run_by: UUID) -> int:
        found = self._result(result_id)
        return found.attempts + (1 if found.run_by != run_by else 0)

    async def mark_running(self, result_id: UUID, at: datetime, run_by: UUID) -> None:
        found = self._result(result_id)
        found.status, found.started_at, found.attempts, found.run_by = "RUNNING", at, 1, run_by

    async def restart_running(self, result_id: UUID, at: datetime, run_by: UUID) -> None:
        found = self._result(result_id)
        found.attempts += 1 if found.run_by != run_by else 0
        found.started_at, found.run_by = at, run_by

    async def inputs(self, job: BacktestJob, cache: InputCache | None) -> Inputs:
        self.store.reads += 1
        return self.store.inputs

    async def set_data_as_of(self, result_id: UUID, as_of: datetime) -> None:
        self._result(result_id).data_as_of = as_of

    async def prepare_snapshots(self, lo: datetime, hi: datetime) -> None:
        return None

    async def store_snapshots(self, batches: AsyncIterable[list[tuple[Any, ...]]]) -> int:
        rows = [row async for batch in batches for row in batch]
        self.store.snapshots.setdefault(rows[0][0] if rows else None, []).extend(rows)  # type: ignore[arg-type]
        return len(rows)

    async def complete(
        self, job: BacktestJob, outcome: BacktestOutcome, trades: list[TradeRecord], at: datetime
    ) -> None:
        assert self.in_transaction, "the COMPLETED result is written in a transaction"
        found = self._result(job.backtest_id)
        found.status, found.completed_at, found.outcome, found.manifest = "COMPLETED", at, outcome, outcome.manifest
        self.store.trades[job.backtest_id] = list(trades)

    async def fail(self, result_id: UUID, message: str, at: datetime, manifest: dict[str, Any] | None) -> None:
        found = self._result(result_id)
        found.status, found.error_message, found.completed_at, found.manifest = "FAILED", message, at, manifest
