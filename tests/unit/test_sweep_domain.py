"""Sweeps, pure parts: the parameter space, the keys and queue, objectives, walk-forward windows and stitching,
and the vectorised pre-screen against a plain loop of the engine's signal rule."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from aiokafka.partitioner import DefaultPartitioner

from bts_sdk.builtin.sma_crossover import crossing_positions, sma_table
from services.api.domain import prescreen
from services.api.domain.sweep_queue import estimated_completion, first_release
from services.api.domain.sweep_space import Range, Space, expand, parameter_model, space_problems
from shared.contracts.models.objectives import objective
from shared.contracts.models.walk_forward import WalkForwardSpec, WindowCurve, stitch, summary, windows
from shared.platform.kafka.partitioning import partition_keys, partition_of
from shared.strategy_types import UnknownStrategyType

SMA = parameter_model("SMA_CROSSOVER")
MR = parameter_model("MEAN_REVERSION")


def test_a_grid_is_the_product_minus_combinations_that_break_a_rule_between_parameters() -> None:
    space = Space(grid={"fast_period": [5, 10, 30], "slow_period": [20, 40]})
    assert space.size() == 6
    assert space_problems(SMA, space, {}) == []
    found = expand(SMA, space, {})
    pairs = [(c["fast_period"], c["slow_period"]) for c in found.combinations]
    assert pairs == [(5, 20), (5, 40), (10, 20), (10, 40), (30, 40)]
    assert found.skipped == 1
    assert "fast_period must be < slow_period" in (found.skip_reason or "")
    assert all(c["allow_short"] is False for c in found.combinations)  # full parameter sets, defaults included


def test_fixed_parameters_join_every_combination() -> None:
    found = expand(SMA, Space(grid={"fast_period": [5, 10]}), {"slow_period": 50, "allow_short": True})
    assert [c["slow_period"] for c in found.combinations] == [50, 50]
    assert all(c["allow_short"] for c in found.combinations)


def test_problems_name_each_field() -> None:
    space = Space(
        grid={"fast_period": [5, 0, "x"], "speed": [1], "slow_period": []}, ranges={"allow_short": Range(0, 1)}
    )
    problems = {p.field: p.message for p in space_problems(SMA, space, {"nope": 1})}
    assert "body.grid.fast_period.1" in problems
    assert "greater than or equal to 1" in problems["body.grid.fast_period.1"]
    assert "body.grid.fast_period.2" in problems
    assert "unknown parameter 'speed'" in problems["body.grid.speed"]
    assert "unknown parameter 'nope'" in problems["body.parameters.nope"]
    assert problems["body.grid.slow_period"] == "give at least one value"
    assert "not numeric" in problems["body.ranges.allow_short"]
    assert "body.samples" in problems  # ranges without a sample count
    missing = {p.field for p in space_problems(SMA, Space(grid={"fast_period": [5]}), {})}
    assert "body.parameters.slow_period" in missing  # required, neither swept nor fixed
    bounds = {
        p.field: p.message
        for p in space_problems(MR, Space(ranges={"lookback": Range(30, 10)}, samples=3), {"entry_z": 2, "exit_z": 0.5})
    }
    assert "low (30) must be <= high (10)" in bounds["body.ranges.lookback"]


def test_unknown_strategy_types_are_named() -> None:
    with pytest.raises(UnknownStrategyType, match=r"strategy type 'NOPE' is not registered; registered: .*SMA"):
        parameter_model("NOPE")


def test_the_size_is_known_before_expanding() -> None:
    huge = Space(grid={"fast_period": list(range(1, 1001)), "slow_period": list(range(2, 1002))})
    assert huge.size() == 1_000_000  # computed, not expanded
    assert Space(ranges={"lookback": Range(2, 50)}, samples=70).size() == 70


def test_random_search_is_reproducible_with_its_seed() -> None:
    space = Space(
        ranges={"lookback": Range(5, 60), "entry_z": Range(1.0, 3.0)}, grid={"exit_z": [0.0, 0.5]}, samples=25, seed=7
    )
    first = expand(MR, space, {}).combinations
    again = expand(MR, space, {}).combinations
    other = expand(MR, Space(ranges=space.ranges, grid=space.grid, samples=25, seed=8), {}).combinations
    assert first == again
    assert first != other
    assert len(first) == 25
    assert all(isinstance(c["lookback"], int) and 5 <= c["lookback"] <= 60 for c in first)
    assert all(1.0 <= c["entry_z"] <= 3.0 and c["exit_z"] in (0.0, 0.5) for c in first)
    assert len({tuple(sorted(c.items())) for c in first}) == 25  # distinct


def test_random_search_over_a_small_space_stops_at_what_exists() -> None:
    found = expand(SMA, Space(ranges={"fast_period": Range(1, 2)}, samples=50, seed=1), {"slow_period": 10})
    assert sorted(c["fast_period"] for c in found.combinations) == [1, 2]


def test_keys_land_on_every_partition_as_kafka_would_place_them() -> None:
    sweep = uuid.uuid4()
    keys = partition_keys(sweep, 6)
    assert len(keys) == 6
    assert all(k.startswith(str(sweep)) for k in keys)
    partitioner = DefaultPartitioner()
    assert [partitioner(k.encode(), list(range(6)), list(range(6))) for k in keys] == list(range(6))
    assert [partition_of(k, 6) for k in keys] == list(range(6))
    assert partition_keys(sweep, 6) == keys  # deterministic


def test_the_first_release_is_bounded_per_partition() -> None:
    assert first_release(200, 6, 2) == 12
    assert first_release(5, 6, 2) == 5


def test_eta_follows_the_pace_so_far() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = start + timedelta(seconds=100)
    assert estimated_completion(start, now, 10, 30) == now + timedelta(seconds=300)
    assert estimated_completion(start, now, 0, 30) is None
    assert estimated_completion(start, now, 10, 0) is None


def test_objectives_know_their_direction_and_path() -> None:
    assert objective("sharpe_ratio").direction == "maximize"
    assert objective("risk.max_drawdown").direction == "maximize"  # negative fraction: closer to 0 is better
    assert objective("volatility").direction == "minimize"
    assert objective("total_return", "minimize").direction == "minimize"
    with pytest.raises(ValueError, match=r"unknown metric 'returns\.sharpe_ratio'"):
        objective("returns.sharpe_ratio")
    with pytest.raises(ValueError, match="unknown metric 'speed'"):
        objective("speed")
    goal = objective("max_drawdown")
    assert goal.value({"risk": {"max_drawdown": -0.1}}) == -0.1
    assert goal.value({"risk": {"max_drawdown": None}}) is None
    ordered = sorted([-0.3, None, -0.1, -0.2], key=goal.sort_key)
    assert ordered == [-0.1, -0.2, -0.3, None]
    assert sorted([0.3, None, 0.1], key=objective("volatility").sort_key) == [0.1, 0.3, None]


def test_rolling_and_anchored_windows() -> None:
    spec = WalkForwardSpec(in_sample_months=12, out_of_sample_months=6)
    found = windows(spec, date(2019, 1, 1), date(2021, 12, 31))
    assert [(w.out_of_sample_start, w.out_of_sample_end) for w in found] == [
        (date(2020, 1, 1), date(2020, 6, 30)),
        (date(2020, 7, 1), date(2020, 12, 31)),
        (date(2021, 1, 1), date(2021, 6, 30)),
        (date(2021, 7, 1), date(2021, 12, 31)),
    ]
    assert [(w.in_sample_start, w.in_sample_end) for w in found][1] == (date(2019, 7, 1), date(2020, 6, 30))
    anchored = windows(
        WalkForwardSpec(in_sample_months=12, out_of_sample_months=6, mode="anchored"),
        date(2019, 1, 1),
        date(2021, 12, 31),
    )
    assert {w.in_sample_start for w in anchored} == {date(2019, 1, 1)}
    assert anchored[-1].in_sample_end == date(2021, 6, 30)


def test_a_short_tail_joins_the_last_window_and_a_short_period_is_refused() -> None:
    found = windows(WalkForwardSpec(in_sample_months=6, out_of_sample_months=6), date(2020, 1, 1), date(2021, 1, 20))
    assert found[-1].out_of_sample_end == date(2021, 1, 20)  # 14 weekdays of January join July-December
    assert len(found) == 1
    with pytest.raises(ValueError, match="no room for a walk-forward window"):
        windows(WalkForwardSpec(in_sample_months=24, out_of_sample_months=6), date(2020, 1, 1), date(2021, 6, 30))


def test_stitching_chains_the_windows() -> None:
    d = [date(2020, 1, 2), date(2020, 1, 3)]
    curves = [
        WindowCurve(1, [date(2020, 2, 3), date(2020, 2, 4)], [100.0, 90.0]),
        WindowCurve(0, d, [110.0, 120.0]),
        WindowCurve(2, None, None),
    ]
    curve = stitch(curves, 100.0)
    assert list(curve.round(6)) == [110.0, 120.0, 120.0, 108.0]  # window 1 starts where window 0 ended
    assert summary(curve, 100.0)["total_return"] == pytest.approx(0.08)
    assert summary(stitch([], 100.0), 100.0)["total_return"] is None


def _loop_positions(closes: list[float], fast: int, slow: int, allow_short: bool) -> list[float]:
    """The engine's SmaCrossover rule, bar by bar (bts_sdk/builtin/sma_crossover.py)."""
    held, previous, out = 0.0, None, []
    for t in range(len(closes)):
        if t + 1 >= slow:
            window = closes[t + 1 - slow : t + 1]
            f, s = sum(window[-fast:]) / fast, sum(window) / slow
            relation = (f > s) - (f < s)
            if previous is not None and relation != previous and relation != 0:
                held = 1.0 if relation > 0 else (-1.0 if allow_short else 0.0)
            previous = relation
        out.append(held)
    return out


def test_the_vectorised_signal_rule_equals_the_engines_loop() -> None:
    rng = np.random.default_rng(3)
    closes = [float(v) for v in 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 400)))]
    combos = [(3, 10, False), (5, 20, True), (10, 50, False), (2, 3, True)]
    table = sma_table(np.array(closes), {3, 10, 5, 20, 50, 2})
    got = crossing_positions(
        np.stack([table[f] for f, _, _ in combos]),
        np.stack([table[s] for _, s, _ in combos]),
        np.array([a for _, _, a in combos]),
    )
    for row, (fast, slow, short) in zip(got, combos, strict=True):
        assert list(row) == _loop_positions(closes, fast, slow, short)


def test_the_screen_ranks_and_estimates_returns() -> None:
    days = pd.bdate_range("2020-01-01", periods=300)
    rng = np.random.default_rng(5)
    legs = [np.linspace(150, 100, 100), np.linspace(100, 150, 100), np.linspace(150, 100, 100)]  # down, up, down
    trend = np.concatenate(legs) + rng.normal(0, 0.3, 300)
    market = prescreen.Market(
        closes=pd.DataFrame({"A.X": trend}, index=days), weight=0.1, cost_per_price={"A.X": 0.0}, cost_fraction=0.0
    )
    combos = [
        {"fast_period": 5, "slow_period": 40},
        {"fast_period": 5, "slow_period": 40, "allow_short": True},
        {"fast_period": 100, "slow_period": 200},
    ]
    total = prescreen.scores(market, "SMA_CROSSOVER", combos, objective("total_return"))
    assert total[1] > total[0] > 0  # long in the rise; shorting the last fall adds
    assert total[2] == 0  # no crossing upwards: a long-only strategy never enters
    # the estimate is what holding 10% of equity on the positions gives
    positions = _loop_positions([float(v) for v in trend], 5, 40, False)
    expected = np.prod([1 + 0.1 * positions[t - 1] * (trend[t] / trend[t - 1] - 1) for t in range(1, 300)]) - 1
    assert total[0] == pytest.approx(expected)
    assert prescreen.top_k(total, objective("total_return"), 2) == [1, 0]
    assert prescreen.top_k([1.0, float("nan"), 2.0], objective("volatility"), 3) == [0, 2, 1]
