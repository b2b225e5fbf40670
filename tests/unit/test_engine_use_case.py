"""The engine's use case (run_backtest_job) against an in-memory store: the real Nautilus run, ledger and
metrics on synthetic bars, no database or broker."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from services.engine.backtest_job import run_backtest_job
from services.engine.bars import stamp_at_close
from services.engine.domain.outcome import BacktestOutcome
from services.engine.inputs import Inputs
from services.engine.job import BacktestJob
from services.engine.manifest import run_manifest
from shared.domain.calendars import calendar_for
from shared.platform.db.reads import InstrumentRow
from tests.fakes.engine_runs import MemoryRuns, StoredResult

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
AS_OF = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
INSTRUMENTS = ["UCA.NASDAQ", "UCB.NASDAQ"]


def _inputs() -> Inputs:
    calendar = calendar_for("NASDAQ")
    sessions = calendar.sessions_in_range("2021-01-01", "2022-12-31")
    bars = {}
    for seed, iid in enumerate(INSTRUMENTS):
        rng = np.random.default_rng(seed)
        close = np.round(100 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, len(sessions)))), 2)
        frame = pd.DataFrame(
            {"open": close, "high": close + 0.3, "low": close - 0.3, "close": close, "volume": 100_000.0},
            index=pd.DatetimeIndex(sessions).tz_localize("UTC"),
        )
        bars[iid] = stamp_at_close(frame, "BAR_DAILY", calendar)
    instruments = {
        iid: InstrumentRow(
            id=iid,
            symbol=iid.split(".")[0],
            exchange="NASDAQ",
            asset_class="EQUITY",
            currency="USD",
            tick_size=Decimal("0.01"),
            lot_size=1,
            trading_hours={},
            margin_requirement=Decimal(25),
        )
        for iid in INSTRUMENTS
    }
    return Inputs(instruments, bars, None, ["a data check"], AS_OF)


def _job(**changes: Any) -> BacktestJob:
    job = BacktestJob(
        backtest_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        configuration_id=uuid.uuid4(),
        strategy_type="SMA_CROSSOVER",
        parameters={"fast_period": 5, "slow_period": 20},
        instrument_ids=INSTRUMENTS,
        start_date=date(2021, 1, 1),
        end_date=date(2022, 12, 31),
        initial_capital=Decimal(100_000),
        position_size_pct=Decimal(5),
        commission_model={"type": "PER_SHARE"},  # type: ignore[arg-type]  # validated into the typed model
        benchmark_symbol="SPY",
    )
    return replace(job, **changes)


class Announced:
    def __init__(self) -> None:
        self.outcomes: list[BacktestOutcome] = []

    async def __call__(self, conn: Any, outcome: BacktestOutcome) -> None:
        assert conn.in_transaction, "the outcome's event is enqueued in the result's transaction"
        self.outcomes.append(outcome)


async def test_a_run_stores_its_trades_snapshots_and_completed_result_and_announces_it_once() -> None:
    store, announce = MemoryRuns(_inputs()), Announced()
    job = _job()
    outcome = await run_backtest_job(store, job, announce=announce, clock=lambda: NOW)
    stored = store.results[job.backtest_id]
    assert (outcome.status, stored.status, stored.started_at, stored.completed_at) == (
        "COMPLETED",
        "COMPLETED",
        NOW,
        NOW,
    )
    assert stored.data_as_of == AS_OF
    trades = store.trades[job.backtest_id]
    assert trades
    assert outcome.trades_count + outcome.open_trades == len(trades)
    assert outcome.manifest is not None
    assert outcome.manifest["trades_count"] == len(trades)
    kinds = {row[3] for row in store.snapshots[job.backtest_id]}
    assert kinds == {"DAILY", "TRADE"}
    assert outcome.warnings[0] == "a data check"  # the inputs' warnings come first
    assert [o.status for o in announce.outcomes] == ["COMPLETED"]
    assert store.progress[0] == 0.0
    assert store.progress[-1] == 90.0


async def test_a_redelivered_request_is_skipped_and_writes_nothing_again() -> None:
    store, announce = MemoryRuns(_inputs()), Announced()
    job = _job()
    await run_backtest_job(store, job, announce=announce, clock=lambda: NOW)
    rows = len(store.snapshots[job.backtest_id])
    again = await run_backtest_job(store, job, announce=announce, clock=lambda: NOW)
    assert again.status == "SKIPPED"
    assert len(store.snapshots[job.backtest_id]) == rows
    assert len(announce.outcomes) == 1


async def test_a_run_whose_replicas_kept_dying_fails_after_the_takeovers_allowed() -> None:
    store, announce = MemoryRuns(_inputs()), Announced()
    job = _job()
    store.results[job.backtest_id] = StoredResult(status="RUNNING", attempts=4, run_by=uuid.uuid4())
    outcome = await run_backtest_job(store, job, announce=announce, max_takeovers=3, clock=lambda: NOW)
    assert outcome.status == "FAILED"
    assert "taken over at most 3 times" in (outcome.error_message or "")
    assert store.results[job.backtest_id].completed_at == NOW
    assert job.backtest_id not in store.trades
    assert store.reads == 0  # failed before reading any data


async def test_a_run_taken_over_from_a_dead_replica_runs_again_from_the_start() -> None:
    store = MemoryRuns(_inputs())
    job = _job()
    store.results[job.backtest_id] = StoredResult(status="RUNNING", attempts=1, run_by=uuid.uuid4())
    outcome = await run_backtest_job(store, job, clock=lambda: NOW)
    assert outcome.status == "COMPLETED"
    assert store.results[job.backtest_id].attempts == 2


async def test_no_signal_fails_with_the_reason_and_keeps_no_snapshot() -> None:
    store, announce = MemoryRuns(_inputs()), Announced()
    job = _job(parameters={"fast_period": 5, "slow_period": 1000})  # longer than the bars: never a signal
    outcome = await run_backtest_job(store, job, announce=announce, clock=lambda: NOW)
    assert outcome.status == "FAILED"
    assert outcome.error_message == "the strategy generated no signal between 2021-01-01 and 2022-12-31"
    assert not store.snapshots.get(job.backtest_id)
    assert job.backtest_id not in store.trades
    assert [o.status for o in announce.outcomes] == ["FAILED"]


async def test_an_unregistered_strategy_type_fails_before_reading_data() -> None:
    store = MemoryRuns(_inputs())
    outcome = await run_backtest_job(store, _job(strategy_type="NOPE"), clock=lambda: NOW)
    assert outcome.status == "FAILED"
    assert "strategy type 'NOPE' is not registered" in (outcome.error_message or "")
    assert store.reads == 0


async def test_a_sweep_child_stores_the_same_result_as_the_same_configuration_run_alone() -> None:
    inputs = _inputs()
    alone, child = _job(), _job(sweep_id=uuid.uuid4())
    store = MemoryRuns(inputs)
    first = await run_backtest_job(store, alone, clock=lambda: NOW)
    second = await run_backtest_job(store, child, clock=lambda: NOW)
    assert first.metrics == second.metrics
    assert first.manifest
    assert second.manifest
    assert first.manifest["data"] == second.manifest["data"]  # the shared frames' digests (memoised for sweeps)
    assert first.manifest["trades_sha256"] == second.manifest["trades_sha256"]
    assert [r[1:] for r in store.snapshots[alone.backtest_id]] == [r[1:] for r in store.snapshots[child.backtest_id]]
    assert store.progress.count(0.0) == 1  # a sweep child reports no progress of its own


def test_a_sweep_childs_manifest_digests_its_bars_like_any_run() -> None:
    inputs = _inputs()
    child = _job(sweep_id=uuid.uuid4(), data_as_of=AS_OF)
    shared = run_manifest(child, inputs.bars)
    fresh = run_manifest(replace(child, sweep_id=None), {k: v.copy() for k, v in inputs.bars.items()})
    assert shared["data"] == fresh["data"]
    assert run_manifest(child, inputs.bars)["data"] == shared["data"]


@pytest.mark.parametrize("kind", ["PERCENT", "FIXED"])
def test_the_job_carries_a_typed_commission_model(kind: str) -> None:
    fields = {"PERCENT": {"percent": "0.1"}, "FIXED": {"per_order": "2"}}[kind]
    job = _job(commission_model={"type": kind, **fields})
    assert job.commission_model.type.value == kind
    assert job.commission_model.slippage_ticks == 1
