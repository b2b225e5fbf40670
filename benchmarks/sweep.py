"""Benchmark: a parameter sweep on the platform (2 engine replicas) against the same runs in a bare loop.

    .venv/bin/python -m benchmarks.sweep                  # 200 combinations (the full size; ~6 min on 2 quiet cores)
    .venv/bin/python -m benchmarks.sweep --small          # 20 combinations, to check it works on a busy machine
    .venv/bin/python -m benchmarks.sweep --screen-only    # the pre-screen's ranking of 200 against the engine's
    .venv/bin/python -m benchmarks.sweep --fetch-max-wait-ms 20    # consumers polling Tansu more often

Case: an SMA_CROSSOVER grid (fast_period x slow_period) on 3 instruments x 6 years of daily bars
(2019-2024), 5% per position, IBKR-like costs, objective Sharpe ratio.

  bare:   the same combinations as a loop in one process: `run_backtest` (a fresh Nautilus
          BacktestEngine per run: wrangle, add, run, fills report) on bars already in memory;
  sweep:  `bts up` with a second engine replica, POST /sweeps, until GET /sweeps/{id} says COMPLETED
          (every child's result, trades and snapshots stored, leaderboard complete); then until the sweep
          report is written.

Prints both, the ratio sweep / (bare / 2) (goal: at most 1.2, i.e. two replicas on two cores within
20% of a perfect split of the bare loop), how many runs each replica did, and the vectorised
pre-screen's ranking quality against the Nautilus results (Spearman rank correlation; whether the
true best is in its top k) and its time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
import pandas as pd
import psutil

from benchmarks.common import migrated_database
from bts.stackfile import StackFile
from services.api.domain import prescreen
from services.api.users import create_user
from services.engine.backtest_job import compute
from services.engine.domain.errors import JobRejected
from services.engine.domain.runner import InstrumentSpec, RunInput, run_backtest
from services.engine.inputs import load_inputs
from services.engine.job import BacktestJob
from shared.contracts.models.objectives import objective
from shared.platform.db.urls import asyncpg_dsn, role_url
from tests.integration.engine_replicas import EngineReplica, finished_backtests
from tests.integration.market import load_daily_symbols
from tests.integration.stack import started_stack

SYMBOLS = ("BSA", "BSB", "BSC", "SPY")
INSTRUMENTS = [f"{s}.NASDAQ" for s in SYMBOLS[:3]]
START, END = date(2019, 1, 1), date(2024, 12, 31)
POSITION_PCT = Decimal(5)
FULL = (
    [5, 8, 10, 12, 15, 20, 25, 30, 35, 40],
    [50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220, 230, 240],
)
SMALL = ([5, 10, 20, 30], [50, 100, 150, 200, 250])


def grid(small: bool) -> dict[str, list[int]]:
    fast, slow = SMALL if small else FULL
    return {"fast_period": fast, "slow_period": slow}


def combinations(space: dict[str, list[int]]) -> list[dict[str, Any]]:
    return [
        {"fast_period": f, "slow_period": s, "allow_short": False}
        for f in space["fast_period"]
        for s in space["slow_period"]
    ]


@contextlib.contextmanager
def second_engine(found: StackFile, folder: Path) -> Iterator[EngineReplica]:
    """A second engine replica beside the stack's, in its consumer group."""
    first = next(s for s in found.services if s.name == "engine")
    replica = EngineReplica(
        found.database_url, found.kafka_bootstrap, folder, "engine2", state_dir=Path(first.log).parent.parent
    )
    try:
        replica.wait_ready(within=120)
        yield replica
    finally:
        replica.stop()


async def _prepare(found: StackFile, folder: Path) -> str:
    await load_daily_symbols(found.database_url, folder, SYMBOLS, start=START.isoformat(), end=END.isoformat())
    conn = await asyncpg.connect(asyncpg_dsn(found.database_url))
    try:
        return (await create_user(conn, f"bench-{uuid.uuid4().hex[:6]}")).api_key
    finally:
        await conn.close()


def _body(space: dict[str, list[int]], **extra: Any) -> dict[str, Any]:
    return {
        "strategy_type": "SMA_CROSSOVER",
        "grid": space,
        "instrument_ids": INSTRUMENTS,
        "start_date": START.isoformat(),
        "end_date": END.isoformat(),
        "position_size_pct": str(POSITION_PCT),
        "objective": "sharpe_ratio",
        **extra,
    }


def _processes(found: StackFile, state: Path, extra: list[int]) -> dict[str, list[psutil.Process]]:
    """The stack's processes by component: the services, the second engine, PostgreSQL, the broker."""
    groups: dict[str, list[psutil.Process]] = {}
    for service in found.services:
        groups.setdefault(service.name, []).append(psutil.Process(service.pid))
    for pid in extra:
        groups.setdefault("engine", []).append(psutil.Process(pid))
    for proc in psutil.process_iter(["cmdline", "name"]):
        line = " ".join(proc.info["cmdline"] or [])
        if str(state) in line and "postgres" in (proc.info["name"] or ""):
            groups.setdefault("postgres", []).append(proc)
        elif "tansu" in (proc.info["name"] or "") and found.kafka_bootstrap.split(":")[-1] in line:
            groups.setdefault("broker", []).append(proc)
    return groups


def cpu_seconds(groups: dict[str, list[psutil.Process]]) -> dict[str, float]:
    """CPU time (user + system) used so far per component, its processes' children included."""
    used: dict[str, float] = {}
    for name, procs in groups.items():
        total = 0.0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                for p in [proc, *proc.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        times = p.cpu_times()
                        total += times.user + times.system
        used[name] = total
    return used


def run_sweep(
    http: httpx.Client, body: dict[str, Any], on_done: Callable[[], None] | None = None
) -> tuple[dict[str, Any], float, float]:
    """(final state, seconds until COMPLETED, seconds until the report was written)."""
    started = time.perf_counter()
    response = http.post("/sweeps", json=body)
    response.raise_for_status()
    sweep_id = response.json()["id"]
    done_at = None
    while True:  # as a client would poll: the progress only, four times a second
        state: dict[str, Any] = http.get(f"/sweeps/{sweep_id}", params={"limit": 0}).json()
        if state["status"] in ("COMPLETED", "FAILED") and done_at is None:
            done_at = time.perf_counter() - started
            if on_done is not None:
                on_done()
        if done_at is not None and state["report_url"]:
            reported = time.perf_counter() - started
            return http.get(f"/sweeps/{sweep_id}", params={"limit": 1000}).json(), done_at, reported
        time.sleep(0.25)


def warm_up(http: httpx.Client, logs: list[Path], within: float = 300) -> None:
    """Small sweeps until both replicas have run a child: the group has rebalanced onto both, and each has
    paid its first-use costs (as the bare loop's warm-up run did)."""
    deadline = time.monotonic() + within
    warm = {"fast_period": [5, 6, 7], "slow_period": [60, 70, 80, 90]}  # 12 children: every partition gets two
    while time.monotonic() < deadline:
        state, _, _ = run_sweep(http, _body(warm, instrument_ids=INSTRUMENTS[:1], report_top=0))
        if all(_finished_per_replica(logs, {str(r["backtest_id"]) for r in state["leaderboard"]})):
            return
    raise SystemExit("the second engine replica never got work: the consumer group did not rebalance")


def _finished_per_replica(logs: list[Path], ids: set[str]) -> list[int]:
    return [len(finished_backtests(log, ids)) for log in logs]


def _job(parameters: dict[str, Any]) -> BacktestJob:
    return BacktestJob(
        backtest_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        configuration_id=uuid.uuid4(),
        strategy_type="SMA_CROSSOVER",
        parameters=parameters,
        instrument_ids=INSTRUMENTS,
        start_date=START,
        end_date=END,
        initial_capital=Decimal(100_000),
        position_size_pct=POSITION_PCT,
        commission_model={"type": "PER_SHARE", "per_share": "0.005", "minimum": "1"},
        benchmark_symbol="SPY",
    )


async def _inputs(database_url: str) -> tuple[Any, dict[str, pd.DataFrame], pd.DataFrame, pd.Series | None]:
    conn = await asyncpg.connect(role_url(database_url, "engine", "bts"))
    try:
        instruments, bars, benchmark, _, _ = await load_inputs(conn, _job({}))
    finally:
        await conn.close()
    closes = pd.DataFrame({iid: frame["close"].astype(float) for iid, frame in bars.items()})
    closes.index = pd.DatetimeIndex(closes.index).tz_convert(None).normalize()
    return instruments, bars, closes.sort_index(), benchmark


def screen_only(combos: list[dict[str, Any]]) -> None:
    """The pre-screen's ranking against the engine's own computation (Nautilus, ledger, metrics) of every
    combination, in one process: no stack, no storage."""
    with tempfile.TemporaryDirectory(prefix="bts-bench-screen-") as tmp, migrated_database() as url:
        asyncio.run(load_daily_symbols(url, Path(tmp), SYMBOLS, start=START.isoformat(), end=END.isoformat()))
        instruments, bars, closes, benchmark = asyncio.run(_inputs(url))
    actual: dict[tuple[int, int], float | None] = {}
    started = time.perf_counter()
    for params in combos:
        try:
            outcome, _ = compute(_job(params), instruments, bars, benchmark)
            actual[(params["fast_period"], params["slow_period"])] = (outcome.metrics or {})["risk"]["sharpe_ratio"]
        except JobRejected:  # no signal: no result
            actual[(params["fast_period"], params["slow_period"])] = None
    print(f"{len(combos)} engine computations (Nautilus + ledger + metrics) in {time.perf_counter() - started:.1f} s")
    _print_quality(screen_quality(closes, instruments, combos, actual), len(combos))


def _print_quality(quality: dict[str, Any], count: int) -> None:
    print(
        f"pre-screen: {quality['seconds'] * 1000:.0f} ms for {count} combinations; Spearman rank "
        f"correlation with the Nautilus Sharpe ratio {quality['spearman']:.2f}; true best {quality['best']}"
    )
    for k, (hit, gap) in quality["top"].items():
        print(
            f"  top {k:>2}: true best {'in' if hit else 'NOT in'} it; its best Sharpe is {gap:.3f} below the true best"
        )


def bare_loop(instruments: Any, bars: dict[str, pd.DataFrame], combos: list[dict[str, Any]]) -> tuple[float, float]:
    """Wall and CPU seconds of the loop."""
    specs = [
        InstrumentSpec(
            i,
            instruments[i].asset_class,
            instruments[i].currency,
            instruments[i].tick_size,
            instruments[i].lot_size,
            instruments[i].margin_requirement,
        )
        for i in INSTRUMENTS
    ]

    def one(params: dict[str, Any]) -> None:
        run_backtest(
            RunInput(
                "SMA_CROSSOVER",
                params,
                specs,
                bars,
                "BAR_DAILY",
                Decimal(100_000),
                POSITION_PCT,
                "PER_SHARE",
                {"per_share": Decimal("0.005"), "minimum": Decimal("1")},
                1,
            )
        )

    one(combos[0])  # warm-up: imports and first-use costs, as the engines had theirs
    started, cpu = time.perf_counter(), time.process_time()
    for params in combos:
        one(params)
    return time.perf_counter() - started, time.process_time() - cpu


def screen_quality(
    closes: pd.DataFrame, instruments: Any, combos: list[dict[str, Any]], actual: dict[tuple[int, int], float | None]
) -> dict[str, Any]:
    goal = objective("sharpe_ratio")
    market = prescreen.Market(
        closes=closes,
        weight=float(POSITION_PCT) / 100,
        cost_per_price={i: float(instruments[i].tick_size) + 0.005 for i in INSTRUMENTS},
        cost_fraction=0.0,
    )
    started = time.perf_counter()
    estimates = prescreen.scores(market, "SMA_CROSSOVER", combos, goal)
    seconds = time.perf_counter() - started
    keys = [(c["fast_period"], c["slow_period"]) for c in combos]
    pairs = [(e, actual[k]) for e, k in zip(estimates, keys, strict=True) if actual.get(k) is not None and e == e]
    est, act = (pd.Series(v, dtype=float) for v in zip(*pairs, strict=True))
    best = max((k for k in keys if actual.get(k) is not None), key=lambda k: actual[k] or -np.inf)
    found = {}
    for k in (5, 10, 20, 50):
        if k < len(combos):
            top = {keys[i] for i in prescreen.top_k(estimates, goal, k)}
            found[k] = (best in top, (actual[best] or 0.0) - max((actual[t] or -np.inf) for t in top))
    return {"spearman": float(est.rank().corr(act.rank())), "seconds": seconds, "best": best, "top": found}


FETCH_HELP = (
    "the consumers' BTS_KAFKA_FETCH_MAX_WAIT_MS (default 40): Tansu answers a fetch only after this wait, "
    "so a short one costs CPU in polling"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="20 combinations instead of 200")
    parser.add_argument(
        "--screen-only",
        action="store_true",
        help="only the pre-screen's ranking quality, against "
        "the engine's computation of every combination in one process (no stack)",
    )
    parser.add_argument("--fetch-max-wait-ms", type=int, help=FETCH_HELP)
    args = parser.parse_args()
    space = grid(args.small)
    combos = combinations(space)
    if args.screen_only:
        screen_only(combos)
        return
    settings = {"BTS_KAFKA_FETCH_MAX_WAIT_MS": str(args.fetch_max_wait_ms)} if args.fetch_max_wait_ms else {}
    if settings:
        os.environ.update(settings)  # the second engine too
    with (
        tempfile.TemporaryDirectory(prefix="bts-bench-sweep-") as tmp,
        started_stack(Path(tmp) / "state", settings, ready_within=300) as found,
    ):
        key = asyncio.run(_prepare(found, Path(tmp)))
        instruments, bars, closes, _ = asyncio.run(_inputs(found.database_url))
        print(
            f"case: SMA_CROSSOVER grid of {len(combos)} combinations on {len(INSTRUMENTS)} instruments x "
            f"{START.year}-{END.year} daily ({sum(len(b) for b in bars.values()):,} bars), 2 engine replicas"
        )
        bare, bare_cpu = bare_loop(instruments, bars, combos)
        print(
            f"bare loop, one process: {bare:.1f} s ({bare / len(combos) * 1000:.0f} ms a run; CPU {bare_cpu:.1f} s); "
            f"bare / 2 = {bare / 2:.1f} s"
        )
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
            at_done: list[dict[str, float]] = []
            state, done, reported = run_sweep(http, _body(space), lambda: at_done.append(cpu_seconds(groups)))
            after = cpu_seconds(groups)
            load = os.getloadavg()[0]
            ids = {str(r["backtest_id"]) for r in state["leaderboard"]}
            per_replica = _finished_per_replica(logs, ids)
            top_k = max(2, len(combos) // 10)
            screened, screened_done, _ = run_sweep(http, _body(space, prescreen={"top_k": top_k}))
        print(
            f"sweep on the platform: {done:.1f} s to COMPLETED ({state['done']} runs, {state['failed']} failed; "
            f"replicas ran {' + '.join(map(str, per_replica))}); report written at {reported:.1f} s"
        )
        print(f"ratio sweep / (bare / 2): {done / (bare / 2):.2f}  (goal <= 1.2)")
        for label, end in (("until COMPLETED", at_done[0]), ("until the report", after)):
            spent = {k: end[k] - before.get(k, 0.0) for k in end}
            print(
                f"CPU seconds {label}: "
                + ", ".join(f"{k} {v:.1f}" for k, v in sorted(spent.items(), key=lambda kv: -kv[1]))
                + f"; total {sum(spent.values()):.1f} (the bare loop: {bare_cpu:.1f})"
            )
        print(f"load average {load:.1f} on {os.cpu_count()} cores (other work on the machine inflates wall times)")
        actual = {
            (r["parameters"]["fast_period"], r["parameters"]["slow_period"]): r["objective"]
            for r in state["leaderboard"]
        }
        quality = screen_quality(closes, instruments, combos, actual)
        print(
            f"pre-screen: {quality['seconds'] * 1000:.0f} ms for {len(combos)} combinations; Spearman rank "
            f"correlation with the Nautilus Sharpe ratio {quality['spearman']:.2f}; true best {quality['best']}"
        )
        for k, (hit, ratio) in quality["top"].items():
            print(
                f"  top {k:>2}: true best {'in' if hit else 'NOT in'} it; its best Sharpe is {ratio:.3f} below the "
                "true best"
            )
        print(
            f"sweep with prescreen top {screened['total']}: {screened_done:.1f} s to COMPLETED "
            f"({screened['screened_out']} screened out)"
        )


if __name__ == "__main__":
    main()
