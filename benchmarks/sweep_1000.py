"""Benchmark: a 1,000-combination sweep on the platform (2 engine replicas) against a bare Nautilus loop.

    .venv/bin/python -m benchmarks.sweep_1000                   # 1,000 combinations (goal: <= 90 s wall)
    .venv/bin/python -m benchmarks.sweep_1000 --fast 10 --slow 10   # 100 combinations, to check it works
    .venv/bin/python -m benchmarks.sweep_1000 --baseline-only   # only the bare loop's estimate (no stack)

Case: an SMA_CROSSOVER grid (fast_period 2..51 x slow_period 60..250, 50 x 20 = 1,000) on 3 instruments x 6
years of daily bars (2019-2024), 5% per position, IBKR-like costs, objective Sharpe ratio.

  baseline: a bare loop in one process, `run_backtest` (a fresh Nautilus BacktestEngine per run) on bars
            already in memory. Running all 1,000 takes minutes, so it runs a random sample (`--sample`,
            100 by default, seeded) and scales it to the grid; the output says so. Split over the 2
            replicas' cores, that is the best a platform that only ran Nautilus could do.
  sweep:    `bts up` with a second engine replica, POST /sweeps, until GET /sweeps/{id} says COMPLETED, then
            a check that every completed child has its metrics, its daily equity (DAILY snapshots) and its
            trades stored and a rank on the leaderboard.

Prints both, the ratio sweep / (baseline / 2), the goal (<= 90 s wall on 2 cores), the CPU seconds per
component and the load average (the machine is shared: other load inflates wall times).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks.common import migrated_database
from benchmarks.sweep import END as END_DATE
from benchmarks.sweep import (
    INSTRUMENTS,
    SYMBOLS,
    _body,
    _finished_per_replica,
    _inputs,
    _prepare,
    _processes,
    bare_loop,
    combinations,
    cpu_seconds,
    run_sweep,
    second_engine,
    warm_up,
)
from benchmarks.sweep import START as START_DATE
from shared.platform.db.urls import asyncpg_dsn
from tests.integration.market import load_daily_symbols
from tests.integration.stack import started_stack

GOAL_SECONDS = 90.0
REPLICAS = 2


def grid(fast: int, slow: int) -> dict[str, list[int]]:
    """`fast` fast periods from 2 and `slow` slow periods from 60 in steps of 10."""
    return {"fast_period": list(range(2, 2 + fast)), "slow_period": list(range(60, 60 + 10 * slow, 10))}


def baseline(instruments: Any, bars: Any, combos: list[dict[str, Any]], sample: int) -> tuple[float, float, int]:
    """(estimated wall seconds of the bare loop over every combination, its CPU seconds, how many ran)."""
    chosen = random.Random(17).sample(combos, min(sample, len(combos)))
    wall, cpu = bare_loop(instruments, bars, chosen)
    scale = len(combos) / len(chosen)
    return wall * scale, cpu * scale, len(chosen)


async def stored_light_results(database_url: str, ids: set[str]) -> dict[str, int]:
    """How many of the children `ids` have their metrics, a daily equity curve and a trades list stored."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        keys = list(ids)
        with_metrics = await conn.fetchval(
            "SELECT count(*) FROM engine.backtest_results WHERE id = ANY($1::uuid[]) AND status = 'COMPLETED' "
            "AND metrics IS NOT NULL",
            keys,
        )
        with_equity = await conn.fetchval(
            "SELECT count(DISTINCT backtest_result_id) FROM engine.portfolio_snapshots "
            "WHERE backtest_result_id = ANY($1::uuid[]) AND kind = 'DAILY'",
            keys,
        )
        with_trades = await conn.fetchval(
            "SELECT count(DISTINCT backtest_result_id) FROM engine.trades WHERE backtest_result_id = ANY($1::uuid[])",
            keys,
        )
    finally:
        await conn.close()
    return {"metrics": int(with_metrics), "daily equity": int(with_equity), "trades": int(with_trades)}


def _baseline_only(combos: list[dict[str, Any]], sample: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bts-bench-sweep1000-") as tmp, migrated_database() as url:
        asyncio.run(load_daily_symbols(url, Path(tmp), SYMBOLS, start=START_DATE.isoformat(), end=END_DATE.isoformat()))
        instruments, bars, _, _ = asyncio.run(_inputs(url))
    wall, cpu, ran = baseline(instruments, bars, combos, sample)
    _print_baseline(wall, cpu, ran, len(combos))


def _print_baseline(wall: float, cpu: float, ran: int, total: int) -> None:
    print(
        f"baseline, bare Nautilus loop in one process: {ran} of {total} combinations (a seeded random sample) "
        f"scaled to {total}: {wall:.1f} s wall, {cpu:.1f} CPU-s ({wall / total * 1000:.0f} ms a run); "
        f"split over {REPLICAS} cores: {wall / REPLICAS:.1f} s"
    )


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # figures as they come, into a file too
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", type=int, default=50, help="fast periods (from 2): 50")
    parser.add_argument("--slow", type=int, default=20, help="slow periods (60, 70, ...): 20")
    parser.add_argument("--sample", type=int, default=100, help="combinations the bare loop runs (then scaled)")
    parser.add_argument("--baseline-only", action="store_true", help="only the bare loop's estimate, no stack")
    args = parser.parse_args()
    space = grid(args.fast, args.slow)
    combos = combinations(space)
    if args.baseline_only:
        _baseline_only(combos, args.sample)
        return
    with (
        tempfile.TemporaryDirectory(prefix="bts-bench-sweep1000-") as tmp,
        started_stack(Path(tmp) / "state", {}, ready_within=300) as found,
    ):
        key = asyncio.run(_prepare(found, Path(tmp)))
        instruments, bars, _, _ = asyncio.run(_inputs(found.database_url))
        print(
            f"case: SMA_CROSSOVER grid of {len(combos)} combinations on {len(INSTRUMENTS)} instruments x "
            f"{START_DATE.year}-{END_DATE.year} daily ({sum(len(b) for b in bars.values()):,} bars), "
            f"{REPLICAS} engine replicas"
        )
        wall, cpu, ran = baseline(instruments, bars, combos, args.sample)
        _print_baseline(wall, cpu, ran, len(combos))
        with (
            second_engine(found, Path(tmp)) as engine2,
            httpx.Client(
                base_url=found.api_url + "/api/v1", timeout=120, headers={"Authorization": f"Bearer {key}"}
            ) as http,
        ):
            logs = [Path(next(s.log for s in found.services if s.name == "engine")), engine2.log]
            warm_up(http, logs)
            groups = _processes(found, Path(tmp) / "state", [engine2.pid])
            before = cpu_seconds(groups)
            loads = [os.getloadavg()[0]]
            at_done: list[dict[str, float]] = []
            started = time.perf_counter()
            state, done, _ = run_sweep(http, _body(space, report_top=5), lambda: at_done.append(cpu_seconds(groups)))
            loads.append(os.getloadavg()[0])
            ids = {str(r["backtest_id"]) for r in state["leaderboard"]}
            per_replica = _finished_per_replica(logs, ids)
            stored = asyncio.run(stored_light_results(found.database_url, ids))
            print(f"(until the report: {time.perf_counter() - started:.1f} s)")
        ranked = sum(1 for r in state["leaderboard"] if r.get("rank") is not None)
        print(
            f"sweep on the platform: {done:.1f} s to COMPLETED ({state['done']} runs, {state['failed']} failed; "
            f"replicas ran {' + '.join(map(str, per_replica))}); {ranked} ranked on the leaderboard; stored: "
            + ", ".join(f"{k} {v}" for k, v in stored.items())
        )
        print(
            f"ratio sweep / (baseline / {REPLICAS}): {done / (wall / REPLICAS):.2f}; goal <= {GOAL_SECONDS:.0f} s: "
            f"{'met' if done <= GOAL_SECONDS else 'NOT met'}"
        )
        spent = {k: at_done[0][k] - before.get(k, 0.0) for k in at_done[0]}
        print(
            "CPU seconds until COMPLETED: "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(spent.items(), key=lambda kv: -kv[1]))
            + f"; total {sum(spent.values()):.1f} (the bare loop, scaled: {cpu:.1f})"
        )
        print(
            f"load average {loads[0]:.1f} before, {loads[1]:.1f} after, on {os.cpu_count()} cores "
            "(other work on the machine inflates wall times)"
        )


if __name__ == "__main__":
    main()
