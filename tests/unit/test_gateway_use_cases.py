"""The gateway's use cases against the in-memory unit of work: ownership, the submission check (strategy,
instruments, data, benchmark), sweeps (size, windows, first release) and the life of a sweep as its
children finish (dedupe, release, walk-forward, the end). The full-stack tests keep to the wiring."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import numpy as np
import pytest

from services.api.domain import prescreen
from services.api.service_layer.backtests import submit_backtest
from services.api.service_layer.memory import MemoryStore, MemoryUnitOfWork
from services.api.service_layer.submission import Refused
from services.api.service_layer.sweep_flow import on_backtest_finished
from services.api.service_layer.sweeps import SweepLimits, SweepQueued, submit_sweep
from services.api.sweep_schemas import SweepSubmit
from shared.contracts import topics
from shared.contracts.events import BacktestCompleted, BacktestFailed, BacktestRequested, SweepCompleted
from shared.contracts.models import BacktestConfiguration, PerformanceMetrics, StrategyStatus, Timeframe
from shared.contracts.models.backtest import MIN_TRADING_DAYS
from shared.contracts.models.strategy import TradingStrategy

T = TypeVar("T")
ALICE, BOB = uuid4(), uuid4()
NOW = datetime(2024, 6, 1, tzinfo=UTC)
START, END = date(2020, 1, 2), date(2020, 12, 31)
SMA = {"fast_period": 10, "slow_period": 30}
LIMITS = SweepLimits(max_runs=100, queue_per_partition=1)
PARTITIONS = topics.PARTITIONS[topics.BACKTEST_REQUESTED]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _weekdays(start: date, end: date) -> list[date]:
    return [d.astype(date) for d in np.arange(start, end + timedelta(days=1), dtype="datetime64[D]") if np.is_busday(d)]


def _world(status: StrategyStatus = StrategyStatus.ACTIVE) -> tuple[MemoryUnitOfWork, UUID]:
    """Alice's strategy; AAPL and SPY with a bar every weekday of 2020; MSFT registered without bars."""
    store = MemoryStore()
    strategy = TradingStrategy(
        id=uuid4(),
        user_id=ALICE,
        name="sma",
        strategy_type="SMA_CROSSOVER",
        parameters=SMA,
        status=status,
        created_at=NOW,
        updated_at=NOW,
    )
    store.strategies[strategy.id] = strategy
    store.instruments.update({"AAPL.NASDAQ": "AAPL", "MSFT.NASDAQ": "MSFT", "SPY.ARCA": "SPY"})
    for iid in ("AAPL.NASDAQ", "SPY.ARCA"):
        store.add_bars(iid, _weekdays(START, END))
    return MemoryUnitOfWork(store), strategy.id


def _config(strategy_id: UUID, **changes: Any) -> BacktestConfiguration:
    values: dict[str, Any] = {"instrument_ids": ["AAPL.NASDAQ"], "start_date": START, "end_date": END, **changes}
    return BacktestConfiguration(strategy_id=strategy_id, **values)


def _submit(uow: MemoryUnitOfWork, user: UUID, config: BacktestConfiguration) -> UUID:
    return run(submit_backtest(uow, user, config, Timeframe.BAR_DAILY, "corr"))


def _refused(uow: MemoryUnitOfWork, user: UUID, config: BacktestConfiguration) -> list[tuple[str, str]]:
    with pytest.raises(Refused) as refused:
        _submit(uow, user, config)
    assert uow.store.outbox == []
    assert uow.store.statuses == {}
    assert uow.store.configurations == {}
    return [(p.field, p.message) for p in refused.value.problems]


# -- submit_backtest ---------------------------------------------------------------------------------------------


def test_a_backtest_is_recorded_pending_and_its_request_published_keyed_by_its_user() -> None:
    uow, strategy = _world()
    backtest_id = _submit(uow, ALICE, _config(strategy))
    [(event, key)] = uow.store.outbox
    assert (event.type, key, event.subject, event.correlation_id) == (
        topics.BACKTEST_REQUESTED,
        str(ALICE),
        str(backtest_id),
        "corr",
    )
    request = event.data
    assert isinstance(request, BacktestRequested)
    assert (request.backtest_id, request.user_id, request.strategy.parameters["fast_period"]) == (
        backtest_id,
        ALICE,
        10,
    )
    assert set(uow.store.statuses) == {backtest_id}
    assert set(uow.store.configurations) == {request.configuration.id}
    assert uow.commits == 1


def test_another_users_strategy_is_refused_as_if_it_did_not_exist() -> None:
    uow, strategy = _world()
    assert _refused(uow, BOB, _config(strategy)) == [("body.strategy_id", f"no strategy {strategy} among yours")]


def test_only_an_active_strategy_may_run() -> None:
    uow, strategy = _world(StrategyStatus.DRAFT)
    [(field, message)] = _refused(uow, ALICE, _config(strategy))
    assert field == "body.strategy_id"
    assert "is DRAFT: only ACTIVE strategies can be backtested" in message


def test_unknown_instruments_and_too_little_data_are_each_named_with_the_strategy_problem() -> None:
    uow, strategy = _world(StrategyStatus.ARCHIVED)
    config = _config(strategy, instrument_ids=["AAPL.NASDAQ", "ZZZ.NASDAQ", "MSFT.NASDAQ"])
    problems = _refused(uow, ALICE, config)
    assert [field for field, _ in problems] == ["body.strategy_id", "body.instrument_ids.1", "body.instrument_ids.2"]
    assert "unknown instrument ZZZ.NASDAQ" in problems[1][1]
    assert (
        f"MSFT.NASDAQ has 0 trading day(s) of BAR_DAILY data in the period; at least {MIN_TRADING_DAYS}"
        in (problems[2][1])
    )


def test_the_data_is_counted_in_the_period_only() -> None:
    uow, strategy = _world()
    uow.store.add_bars("MSFT.NASDAQ", _weekdays(date(2020, 1, 2), date(2020, 2, 10)))  # 28 weekdays
    config = _config(strategy, instrument_ids=["MSFT.NASDAQ"], end_date=date(2020, 3, 31))
    [(field, message)] = _refused(uow, ALICE, config)
    assert field == "body.instrument_ids.0"
    assert "has 28 trading day(s)" in message
    uow.store.add_bars("MSFT.NASDAQ", [date(2020, 2, 11), date(2020, 2, 12)])
    assert _submit(uow, ALICE, config) in uow.store.statuses


def test_a_benchmark_that_names_nothing_is_refused_but_the_default_without_data_runs() -> None:
    uow, strategy = _world()
    [(field, message)] = _refused(uow, ALICE, _config(strategy, benchmark_symbol="QQQ"))
    assert field == "body.benchmark_symbol"
    assert message.startswith("benchmark_symbol QQQ:")
    del uow.store.instruments["SPY.ARCA"]
    _submit(uow, ALICE, _config(strategy))  # SPY, the default: runs without benchmark metrics


# -- submit_sweep ------------------------------------------------------------------------------------------------


def _sweep_body(**changes: Any) -> SweepSubmit:
    values: dict[str, Any] = {
        "strategy_type": "SMA_CROSSOVER",
        "grid": {"fast_period": [5, 10, 20], "slow_period": [30, 50, 100]},
        "instrument_ids": ["AAPL.NASDAQ"],
        "start_date": START.isoformat(),
        "end_date": END.isoformat(),
        **changes,
    }
    return SweepSubmit.model_validate(values)


async def _no_market(config: BacktestConfiguration) -> prescreen.Market:
    raise AssertionError("read only for a pre-screen")


def _queue(uow: MemoryUnitOfWork, user: UUID, body: SweepSubmit, limits: SweepLimits = LIMITS) -> SweepQueued:
    sweep_id = uuid4()
    config = BacktestConfiguration(strategy_id=body.strategy_id or sweep_id, **body.configuration_values())
    return run(submit_sweep(uow, user, body, config, limits, sweep_id, _no_market))


def _sweep_refused(uow: MemoryUnitOfWork, user: UUID, body: SweepSubmit, limits: SweepLimits = LIMITS) -> list[str]:
    with pytest.raises(Refused) as refused:
        _queue(uow, user, body, limits)
    assert uow.store.outbox == []
    assert uow.store.sweeps == {}
    return [f"{p.field}: {p.message}" for p in refused.value.problems]


def test_a_sweep_queues_every_combination_and_publishes_one_per_partition_first() -> None:
    uow, _strategy = _world()
    queued = _queue(uow, ALICE, _sweep_body())
    assert (queued.combinations, queued.total, queued.skipped) == (9, 9, 0)
    children = uow.store.sweep_children(queued.id)
    assert {c.state for c in children} == {"PUBLISHED", "QUEUED"}
    published = [c for c in children if c.state == "PUBLISHED"]
    assert len(published) == len(uow.store.outbox) == PARTITIONS * LIMITS.queue_per_partition
    keys = [key for _event, key in uow.store.outbox]
    assert len(set(keys)) == PARTITIONS
    assert all(k.startswith(f"{queued.id}:") for k in keys)
    requests = [event.data for event, _key in uow.store.outbox]
    assert all(isinstance(r, BacktestRequested) and r.sweep_id == queued.id for r in requests)
    assert set(uow.store.statuses) == {c.backtest_id for c in published}
    assert uow.store.sweeps[queued.id].status == "PENDING"


def test_a_sweep_over_another_users_strategy_is_refused() -> None:
    uow, strategy = _world()
    body = _sweep_body(strategy_type=None, strategy_id=str(strategy), grid={"fast_period": [5, 10]})
    assert _sweep_refused(uow, BOB, body) == [f"body.strategy_id: no strategy {strategy} among yours"]
    assert _queue(uow, ALICE, body).combinations == 2


def test_a_sweep_too_big_is_refused_before_its_values_are_looked_at() -> None:
    uow, _strategy = _world()
    body = _sweep_body(grid={"fast_period": list(range(1, 30)), "slow_period": [30, "not a number"]})
    [problem] = _sweep_refused(uow, ALICE, body, SweepLimits(max_runs=50, queue_per_partition=1))
    assert problem == "body.grid: the sweep expands to 58 combinations; at most 50 are allowed (BTS_SWEEP_MAX_RUNS)"


def test_an_unknown_objective_and_a_prescreen_it_cannot_run_are_named_together() -> None:
    uow, _strategy = _world()
    body = _sweep_body(
        strategy_type="MOMENTUM",
        grid={"lookback": [5, 10]},
        parameters={"threshold": 0.01},
        objective="happiness",
        prescreen={"top_k": 1},
    )
    problems = _sweep_refused(uow, ALICE, body)
    assert [p.split(":")[0] for p in problems] == ["body.objective"]  # the objective first: nothing else is checked
    problems = _sweep_refused(uow, ALICE, body.model_copy(update={"objective": "sharpe_ratio"}))
    assert problems == [
        "body.prescreen: no vectorised pre-screen for MOMENTUM; it exists for: " + ", ".join(prescreen.screened_types())
    ]


def test_a_grid_without_a_valid_combination_is_refused() -> None:
    uow, _strategy = _world()
    problems = _sweep_refused(uow, ALICE, _sweep_body(grid={"fast_period": [30], "slow_period": [20]}))
    assert problems == [
        "body.grid: no valid combination: fast_period must be < slow_period (fast_period=30, slow_period=20)"
    ]


def test_a_walk_forward_window_without_data_is_named() -> None:
    uow, _strategy = _world()
    uow.store.bar_days[("AAPL.NASDAQ", "BAR_DAILY")] = set(_weekdays(START, date(2020, 9, 30)))
    uow.store.add_bars("AAPL.NASDAQ", _weekdays(date(2020, 12, 28), END))
    body = _sweep_body(walk_forward={"in_sample_months": 6, "out_of_sample_months": 3})
    problems = _sweep_refused(uow, ALICE, body)
    assert problems == [
        "body.walk_forward: window 1 out of sample: AAPL.NASDAQ has 4 trading day(s) of BAR_DAILY data in the period; "
        f"at least {MIN_TRADING_DAYS} are required (load data: POST /market-data/import)"
    ]


# -- on_backtest_finished ----------------------------------------------------------------------------------------


def _metrics(sharpe: float) -> PerformanceMetrics:
    return PerformanceMetrics.model_validate(
        {
            "returns": {"total_return": sharpe / 10, "cagr": 0.01, "annualized_return": 0.01},
            "risk": {"max_drawdown": -0.1, "sharpe_ratio": sharpe, "sortino_ratio": 1.0, "volatility": 0.1},
            "trading": {"win_rate": 0.5, "avg_win": 1.0, "avg_loss": -1.0, "profit_factor": 1.0, "expectancy": 0.0},
            "benchmark": {"benchmark_return": None, "alpha": None, "beta": None},
        }
    )


def _completed(request: BacktestRequested, sharpe: float) -> BacktestCompleted:
    config = request.configuration
    return BacktestCompleted(
        backtest_id=request.backtest_id,
        user_id=request.user_id,
        configuration_id=config.id,
        trades_count=2,
        winning_trades=1,
        losing_trades=1,
        metrics=_metrics(sharpe),
        start_date=config.start_date,
        end_date=config.end_date,
        initial_capital=config.initial_capital,
        final_value=config.initial_capital,
        sweep_id=request.sweep_id,
    )


def _failed(request: BacktestRequested) -> BacktestFailed:
    return BacktestFailed(
        backtest_id=request.backtest_id, user_id=request.user_id, error_message="boom", sweep_id=request.sweep_id
    )


def _requests(uow: MemoryUnitOfWork) -> list[BacktestRequested]:
    return [e.data for e, _k in uow.store.outbox if isinstance(e.data, BacktestRequested)]


def _finish(uow: MemoryUnitOfWork, data: BacktestCompleted | BacktestFailed) -> None:
    run(on_backtest_finished(uow, data, NOW))


def test_a_finished_child_releases_the_next_on_its_key_and_a_second_delivery_changes_nothing() -> None:
    uow, _strategy = _world()
    queued = _queue(uow, ALICE, _sweep_body())
    first = _requests(uow)[0]
    first_key = uow.store.outbox[0][1]
    _finish(uow, _completed(first, 1.5))
    child = next(c for c in uow.store.sweep_children(queued.id) if c.backtest_id == first.backtest_id)
    assert (child.state, child.objective_value, child.trades_count) == ("COMPLETED", 1.5, 2)
    assert len(uow.store.outbox) == PARTITIONS + 1
    assert uow.store.outbox[-1][1] == first_key
    assert uow.store.sweeps[queued.id].status == "RUNNING"
    before = copy_of(uow.store)
    _finish(uow, _completed(first, 9.0))  # redelivered (or forged with better figures)
    assert copy_of(uow.store) == before


def copy_of(store: MemoryStore) -> tuple[Any, ...]:
    return (dict(store.children), dict(store.sweeps), len(store.outbox), dict(store.statuses))


def test_a_backtest_that_is_no_sweep_child_changes_nothing() -> None:
    uow, strategy = _world()
    backtest_id = _submit(uow, ALICE, _config(strategy))
    [request] = _requests(uow)
    assert request.backtest_id == backtest_id
    _finish(uow, _completed(request, 1.0))
    assert len(uow.store.outbox) == 1
    assert uow.store.sweeps == {}


def _drain(uow: MemoryUnitOfWork, outcome: Any) -> SweepCompleted:
    """Finish every published child (outcome(request) -> the event) until the sweep announces its end."""
    done: set[UUID] = set()
    while True:
        ended = [e.data for e, _k in uow.store.outbox if isinstance(e.data, SweepCompleted)]
        if ended:
            [end] = ended
            return end
        pending = [r for r in _requests(uow) if r.backtest_id not in done]
        assert pending, "the sweep stalled: nothing published and no end"
        for request in pending:
            done.add(request.backtest_id)
            _finish(uow, outcome(request))


def test_a_sweep_completes_when_its_last_child_finishes_and_names_the_best() -> None:
    uow, _strategy = _world()
    queued = _queue(uow, ALICE, _sweep_body())
    sharpe = {}

    def outcome(request: BacktestRequested) -> BacktestCompleted | BacktestFailed:
        fast = request.strategy.parameters["fast_period"]
        if fast == 20:
            return _failed(request)
        sharpe[request.backtest_id] = fast / 10 + request.strategy.parameters["slow_period"] / 1000
        return _completed(request, sharpe[request.backtest_id])

    end = _drain(uow, outcome)
    assert (end.status, end.total, end.completed, end.failed) == ("COMPLETED", 9, 6, 3)
    assert end.best_backtest_id == max(sharpe, key=lambda b: sharpe[b])
    sweep = uow.store.sweeps[queued.id]
    assert (sweep.status, sweep.completed_at) == ("COMPLETED", NOW)
    assert len(_requests(uow)) == 9


def test_a_sweep_none_of_whose_children_completed_fails() -> None:
    uow, _strategy = _world()
    queued = _queue(uow, ALICE, _sweep_body(grid={"fast_period": [5, 10]}, parameters={"slow_period": 30}))
    end = _drain(uow, _failed)
    assert (end.status, end.completed, end.failed, end.best_backtest_id) == ("FAILED", 0, 2, None)
    assert uow.store.sweeps[queued.id].error_message is not None


def test_a_walk_forward_runs_each_windows_best_in_sample_parameters_out_of_sample() -> None:
    uow, _strategy = _world()
    body = _sweep_body(
        grid={"fast_period": [5, 10]},
        parameters={"slow_period": 30},
        walk_forward={"in_sample_months": 6, "out_of_sample_months": 3},
    )
    queued = _queue(uow, ALICE, body)
    assert len(queued.windows) == 2
    assert queued.total == 2 * 2 + 2

    def outcome(request: BacktestRequested) -> BacktestCompleted:  # fast 10 is the better in sample
        return _completed(request, request.strategy.parameters["fast_period"] / 10)

    end = _drain(uow, outcome)
    oos = [c for c in uow.store.sweep_children(queued.id) if c.phase == "OUT_OF_SAMPLE"]
    assert [(c.window_index, c.parameters["fast_period"], c.state) for c in oos] == [
        (0, 10, "COMPLETED"),
        (1, 10, "COMPLETED"),
    ]
    assert [(c.start_date.isoformat(), c.end_date.isoformat()) for c in oos] == [
        (w["out_of_sample_start"], w["out_of_sample_end"]) for w in queued.windows
    ]
    assert (end.status, end.total) == ("COMPLETED", 6)
    assert set(end.report_backtest_ids) >= {c.backtest_id for c in oos}


def test_a_unit_left_without_a_commit_leaves_the_store_as_it_was() -> None:
    uow, strategy = _world()

    async def interrupted() -> None:
        async with uow:
            await uow.backtests.add_configuration(BacktestRequested.model_validate(_request_values(strategy)))
            raise RuntimeError("the connection dropped")

    with pytest.raises(RuntimeError):
        run(interrupted())
    assert uow.store.configurations == {}
    assert uow.commits == 0


def _request_values(strategy: UUID) -> dict[str, Any]:
    return {
        "backtest_id": uuid4(),
        "user_id": ALICE,
        "configuration": _config(strategy),
        "strategy": {"strategy_type": "SMA_CROSSOVER", "parameters": SMA},
    }
