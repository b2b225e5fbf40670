"""Benchmark: what an idle stack costs, and whether the first message after a quiet period is slower.

    .venv/bin/python -m benchmarks.idle [--seconds 60] [--quiet 10]

Starts `bts up` on a fresh state dir (embedded PostgreSQL and Tansu), waits until it is ready and has
settled, then samples the CPU time of every stack process (the services, `bts up` itself, PostgreSQL, the
broker) over --seconds and prints it as % of one core, per component, next to an idle
`python -c "import time; time.sleep(N)"` measured the same way (goal: the stack <= 2% of a core).

Then the first hops after a quiet period: one backtest (1 instrument, 2 years daily) is run to warm
every path, the stack is left alone for --quiet seconds, and a second one is submitted: the time from
POST until the gateway shows it RUNNING (gateway -> engine -> gateway: two hops through the broker)
is printed next to the same time for a third one submitted right after the second finished (goal: the
quiet one at most 50 ms slower).

Last, what a producer that sends no NOTIFY (another platform publishing backtest.requested straight to
Kafka) waits after a short quiet period: the time from its publish until the engine has started the run,
median of --direct requests, each after 1 s of quiet; the paused engine finds it at its next look, at most
BTS_KAFKA_IDLE_POLL_S later.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaProducer

from benchmarks.sweep import _prepare, _processes, cpu_seconds
from bts.stackfile import StackFile
from shared.contracts import topics
from shared.platform.db.urls import asyncpg_dsn
from shared.platform.settings import Settings
from tests.faults.stack_control import until
from tests.integration.engine_replicas import request_event
from tests.integration.market import register_owners
from tests.integration.stack import started_stack

SMA_PARAMETERS = {"fast_period": 10, "slow_period": 30}
SETTLE_S = 10.0  # after ready: consumers join their groups, reconcilers run their first pass


def stack_cpu(found: StackFile, state: Path, seconds: float) -> dict[str, float]:
    """% of one core per component over `seconds`."""
    groups = _processes(found, state, [])
    # Themselves only: their children are the components above (the launcher's are the services).
    supervisor = psutil.Process(found.pid)
    launcher = [p for p in supervisor.children() if "bts.launcher" in " ".join(p.cmdline())]
    own = {"bts up": [supervisor], "launcher": launcher}
    before, own_before = cpu_seconds(groups), {name: _own_cpu(procs) for name, procs in own.items()}
    time.sleep(seconds)
    after, own_after = cpu_seconds(groups), {name: _own_cpu(procs) for name, procs in own.items()}
    used = {name: 100 * (after[name] - before[name]) / seconds for name in groups}
    used.update({name: 100 * (own_after[name] - own_before[name]) / seconds for name in own})
    return used


def _own_cpu(procs: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in procs)


def sleeper_cpu(seconds: float) -> float:
    """% of one core of an idle Python process over `seconds` (the floor of any process that does nothing)."""
    proc = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds + 5})"])
    try:
        time.sleep(2)  # its start-up (imports) is not idling
        p = psutil.Process(proc.pid)
        before = sum(p.cpu_times()[:2])
        time.sleep(seconds)
        return 100 * (sum(p.cpu_times()[:2]) - before) / seconds
    finally:
        proc.kill()
        proc.wait()


def until_running(http: httpx.Client, body: dict[str, Any]) -> float:
    """Seconds from POST /backtests until the gateway shows it RUNNING (or done); then waits for its end."""
    started = time.perf_counter()
    accepted = http.post("/backtests", json=body)
    accepted.raise_for_status()
    backtest = accepted.json()["id"]
    while http.get(f"/backtests/{backtest}").json()["status"] == "PENDING":
        time.sleep(0.002)
    running = time.perf_counter() - started
    while http.get(f"/backtests/{backtest}").json()["status"] not in ("COMPLETED", "FAILED"):
        time.sleep(0.05)
    return running


STARTED = ("RUNNING", "COMPLETED", "FAILED")
ENDED = ("COMPLETED", "FAILED")


async def _run_in(conn: asyncpg.Connection, backtest: uuid.UUID, statuses: tuple[str, ...]) -> bool:
    """Whether the engine's run of `backtest` has one of `statuses`."""
    status = await conn.fetchval("SELECT status FROM engine.backtest_results WHERE id = $1", backtest)
    return status in statuses


async def straight_to_kafka(found: StackFile, requests: int, quiet_s: float = 1.0) -> list[float]:
    """Seconds from publishing each of `requests` backtest.requested events straight to Kafka (no NOTIFY), each
    after `quiet_s` without a message, until the engine has started it; each run is waited out before the next."""
    events = [
        request_event(uuid.uuid4(), ["BSA.NASDAQ"], date(2023, 1, 1), date(2024, 12, 31), SMA_PARAMETERS)
        for _ in range(requests)
    ]
    await register_owners(found.database_url, [event.data for event in events])
    conn = await asyncpg.connect(asyncpg_dsn(found.database_url))
    producer = AIOKafkaProducer(bootstrap_servers=found.kafka_bootstrap)
    await producer.start()
    waits = []
    try:
        for event in events:
            await asyncio.sleep(quiet_s)
            started = time.perf_counter()
            value, key = event.model_dump_json().encode(), str(event.data.user_id).encode()
            await producer.send_and_wait(topics.BACKTEST_REQUESTED, value, key=key)
            is_started = functools.partial(_run_in, conn, event.data.backtest_id, STARTED)
            await until(is_started, "the engine to start a request published straight to Kafka", every=0.002)
            waits.append(time.perf_counter() - started)
            await until(functools.partial(_run_in, conn, event.data.backtest_id, ENDED), "its end", every=0.05)
    finally:
        await producer.stop()
        await conn.close()
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="how long CPU is sampled")
    parser.add_argument("--quiet", type=float, default=10, help="quiet period before the first-hop measurement")
    parser.add_argument("--direct", type=int, default=5, help="requests published straight to Kafka")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bts-bench-idle-") as tmp:
        state = Path(tmp) / "state"
        with started_stack(state) as found:
            key = asyncio.run(_prepare(found, Path(tmp)))
            time.sleep(SETTLE_S)
            idle = stack_cpu(found, state, args.seconds)
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=found.api_url + "/api/v1", headers=headers, timeout=120) as http:
                created = http.post(
                    "/strategies",
                    json={
                        "name": "idle SMA",
                        "strategy_type": "SMA_CROSSOVER",
                        "parameters": SMA_PARAMETERS,
                    },
                )
                strategy = http.post(f"/strategies/{created.json()['id']}/activate").json()["id"]
                body = {
                    "strategy_id": strategy,
                    "instrument_ids": ["BSA.NASDAQ"],
                    "start_date": "2023-01-01",
                    "end_date": "2024-12-31",
                }
                until_running(http, body)  # warms every path
                time.sleep(args.quiet)
                after_quiet = until_running(http, body)
                busy = [until_running(http, body) for _ in range(3)]
            direct = asyncio.run(straight_to_kafka(found, args.direct))
    floor = sleeper_cpu(min(args.seconds, 20))
    total = sum(idle.values())
    print(f"\nidle stack over {args.seconds:g} s, % of one core:")
    for name, pct in sorted(idle.items(), key=lambda item: -item[1]):
        print(f"  {name:<10} {pct:6.2f}")
    print(f"  {'total':<10} {total:6.2f}   (goal <= 2.00; an idle `python -c time.sleep` uses {floor:.2f})")
    busy_s = sorted(busy)[len(busy) // 2]
    print(
        f"POST -> RUNNING (two hops): after {args.quiet:g} s quiet {after_quiet * 1000:.0f} ms, "
        f"right after another run {busy_s * 1000:.0f} ms (median of {len(busy)}); "
        f"difference {(after_quiet - busy_s) * 1000:+.0f} ms (goal <= +50 ms)"
    )
    look_s = Settings().kafka_idle_poll_s
    print(
        f"straight to Kafka (no NOTIFY), 1 s quiet -> the engine started it: median {statistics.median(direct):.2f} s, "
        f"longest {max(direct):.2f} s of {len(direct)} (a look every {look_s:g} s, BTS_KAFKA_IDLE_POLL_S)"
    )


if __name__ == "__main__":
    main()
