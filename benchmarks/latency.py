"""Benchmark: how long a user waits for one backtest on a running stack, against a bare NautilusTrader run.

    .venv/bin/python -m benchmarks.latency [--warm 7] [--poll-ms 5]

Starts `bts up` on a fresh state dir (embedded PostgreSQL and Tansu), loads 3 instruments x 6 years of
daily bars (2019-2024, plus SPY for the benchmark), and measures an SMA 20/50 crossover on the three
at 10% per position with the default IBKR-like costs:

  bare:       `run_backtest` in this process on bars already in memory (a fresh Nautilus BacktestEngine:
              wrangle, add, run, fills report), after one warm-up run; median of several;
  COMPLETED:  REST POST /backtests -> GET /backtests/{id} says COMPLETED (result, trades and snapshots
              stored, the event back at the gateway), polled every --poll-ms;
  report:     POST -> GET /backtests/{id}/reports lists the HTML report.

The first backtest of the fresh database is the cold one; then the median of --warm more of the same (the
engine reuses the inputs it read: docs/engine.md), and of --warm on inputs it has not read yet (each a day
later). Prints the figures, the differences and ratios vs bare (goals: COMPLETED <= bare + 0.25 s, report
<= 1.0 s, the cold run within 1.5x of a warm one: both warm kinds are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks.sweep import END, INSTRUMENTS, POSITION_PCT, START, _inputs, _prepare
from services.engine.domain.runner import InstrumentSpec, RunInput, run_backtest
from shared.contracts import topics
from shared.platform.db.urls import asyncpg_dsn
from tests.integration.stack import started_stack

PARAMETERS: dict[str, Any] = {"fast_period": 20, "slow_period": 50}


@dataclass(frozen=True)
class Waited:
    backtest_id: str
    submitted_at: float  # wall clock (the services stamp their rows with it too: same machine)
    completed_s: float
    report_s: float


@dataclass(frozen=True)
class Breakdown:
    """Where one run's time went, from the rows' own timestamps: seconds."""

    to_engine: float  # POST, gateway, outbox relay, broker hop, claim: until the engine marked it RUNNING
    gateway: float  # of to_engine: POST -> the gateway's transaction began (its outbox row's time)
    relay: float  # of to_engine: -> the relay's batch began (the gateway's commit, its NOTIFY, the relay's read)
    engine: float  # RUNNING -> COMPLETED row committed
    back: float  # COMPLETED row -> the client saw COMPLETED (relay, hop to the gateway, its read model, poll)
    report: float  # COMPLETED row -> the HTML report row (hop to reporting, rendering)
    report_back: float  # report row -> the client saw it (relay, hop to the gateway, poll)


async def breakdown(database_url: str, runs: list[Waited]) -> list[Breakdown]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        found = []
        for run in runs:
            row = await conn.fetchrow(
                "SELECT extract(epoch FROM r.started_at) AS started, extract(epoch FROM r.completed_at) AS completed, "
                "(SELECT extract(epoch FROM min(p.generated_at)) FROM reporting.performance_reports p "
                " WHERE p.backtest_result_id = r.id AND p.report_type = 'HTML') AS reported, "
                "o.created_at AS queued, o.published_at AS relayed "
                "FROM engine.backtest_results r JOIN LATERAL (SELECT extract(epoch FROM created_at) AS created_at, "
                "extract(epoch FROM published_at) AS published_at FROM api.outbox WHERE topic = $2 "
                "AND payload -> 'data' ->> 'backtest_id' = $3) o ON true WHERE r.id = $1",
                uuid.UUID(run.backtest_id),
                topics.BACKTEST_REQUESTED,
                run.backtest_id,
            )
            if row is None or row["reported"] is None:
                raise SystemExit(f"backtest {run.backtest_id}: no result or HTML report row")
            started, completed, reported, queued, relayed = (
                float(row[k]) for k in ("started", "completed", "reported", "queued", "relayed")
            )
            found.append(
                Breakdown(
                    to_engine=started - run.submitted_at,
                    gateway=queued - run.submitted_at,
                    relay=relayed - queued,
                    engine=completed - started,
                    back=run.submitted_at + run.completed_s - completed,
                    report=reported - completed,
                    report_back=run.submitted_at + run.report_s - reported,
                )
            )
        return found
    finally:
        await conn.close()


def submit_and_wait(http: httpx.Client, strategy_id: str, poll_s: float, start: date = START) -> Waited:
    """One backtest through the REST API: seconds until COMPLETED, and until its HTML report is listed."""
    body = {
        "strategy_id": strategy_id,
        "instrument_ids": INSTRUMENTS,
        "start_date": start.isoformat(),
        "end_date": END.isoformat(),
        "position_size_pct": str(POSITION_PCT * 2),
    }
    submitted_at, started = time.time(), time.perf_counter()
    accepted = http.post("/backtests", json=body)
    accepted.raise_for_status()
    backtest = accepted.json()["id"]
    while (status := http.get(f"/backtests/{backtest}").json()["status"]) not in ("COMPLETED", "FAILED"):
        time.sleep(poll_s)
    completed = time.perf_counter() - started
    if status != "COMPLETED":
        raise SystemExit(f"backtest {backtest} failed: {http.get(f'/backtests/{backtest}').json()}")
    while not any(r["report_type"] == "HTML" for r in http.get(f"/backtests/{backtest}/reports").json()):
        time.sleep(poll_s)
    return Waited(backtest, submitted_at, completed, time.perf_counter() - started)


def bare_runs(database_url: str, repeats: int) -> list[float]:
    """Seconds of `run_backtest` on the same bars and settings, after a warm-up run."""
    instruments, bars, _, _ = asyncio.run(_inputs(database_url))
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
    run = RunInput(
        "SMA_CROSSOVER",
        PARAMETERS,
        specs,
        bars,
        "BAR_DAILY",
        Decimal(100_000),
        POSITION_PCT * 2,
        "PER_SHARE",
        {"per_share": Decimal("0.005"), "minimum": Decimal("1")},
        1,
    )
    run_backtest(run)  # warm-up: imports and first-use costs
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run_backtest(run)
        times.append(time.perf_counter() - started)
    return times


def _strategy(http: httpx.Client) -> str:
    created = http.post(
        "/strategies", json={"name": "latency SMA 20/50", "strategy_type": "SMA_CROSSOVER", "parameters": PARAMETERS}
    )
    created.raise_for_status()
    return str(http.post(f"/strategies/{created.json()['id']}/activate").json()["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", type=int, default=7, help="warm runs after the first (cold) one")
    parser.add_argument("--poll-ms", type=float, default=5, help="how often the client polls the status")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bts-bench-latency-") as tmp, started_stack(Path(tmp) / "state") as found:
        key = asyncio.run(_prepare(found, Path(tmp)))
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=found.api_url + "/api/v1", headers=headers, timeout=120) as http:
            strategy = _strategy(http)
            cold = submit_and_wait(http, strategy, args.poll_ms / 1000)
            warm = [submit_and_wait(http, strategy, args.poll_ms / 1000) for _ in range(args.warm)]
            # Warm runs on inputs the engine has not read yet (each starts a day later): the database's cold
            # start apart from the engine's reuse of the inputs it read (docs/engine.md, "Inputs read once").
            new_inputs = [
                submit_and_wait(http, strategy, args.poll_ms / 1000, START + timedelta(days=n))
                for n in range(1, args.warm + 1)
            ]
        parts = asyncio.run(breakdown(found.database_url, [cold, *warm, *new_inputs]))
        bare = statistics.median(bare_runs(found.database_url, max(3, args.warm)))
    completed = statistics.median(w.completed_s for w in warm)
    first_read = statistics.median(w.completed_s for w in new_inputs)
    report = statistics.median(w.report_s for w in warm)
    print(f"\n3 instruments x 6 years daily, SMA 20/50; client polls every {args.poll_ms:g} ms")
    print(f"{'':<28} {'seconds':>8} {'- bare':>8} {'/ bare':>7}")
    rows = [
        ("bare Nautilus run", bare),
        ("cold: submit -> COMPLETED", cold.completed_s),
        ("cold: submit -> HTML report", cold.report_s),
        (f"warm (median of {len(warm)}): COMPLETED", completed),
        ("warm: submit -> HTML report", report),
    ]
    for name, seconds in rows:
        print(f"{name:<28} {seconds:>8.3f} {seconds - bare:>+8.3f} {seconds / bare:>7.2f}")
    print(f"warm COMPLETED runs: {', '.join(f'{w.completed_s:.3f}' for w in warm)}")
    print(f"warm on inputs not read yet (median of {len(new_inputs)}): COMPLETED {first_read:.3f} s")
    print(
        f"cold / warm COMPLETED: {cold.completed_s / completed:.2f} against the repeated runs, "
        f"{cold.completed_s / first_read:.2f} against runs on new inputs (goal <= 1.5)"
    )
    print(f"goals: COMPLETED <= bare + 0.25 s ({bare + 0.25:.3f} s), report <= 1.0 s")
    print(
        "\nwhere the time went (s; from the rows' timestamps): to engine (gateway, relay, hop and claim) | engine | "
        "back to client | report | back"
    )
    named = [
        ("cold", parts[0]),
        *((f"warm {n}", p) for n, p in enumerate(parts[1 : len(warm) + 1], 1)),
        *((f"new {n}", p) for n, p in enumerate(parts[len(warm) + 1 :], 1)),
    ]
    for name, part in named:
        hop = part.to_engine - part.gateway - part.relay
        print(
            f"  {name:<7} {part.to_engine:6.3f} ({part.gateway:.3f}, {part.relay:.3f}, {hop:.3f}) | "
            f"{part.engine:6.3f} | {part.back:6.3f} | {part.report:6.3f} | {part.report_back:6.3f}"
        )


if __name__ == "__main__":
    main()
