"""Benchmark: many users' backtest requests published straight to Kafka, through one engine service.

    .venv/bin/python -m benchmarks.load                 # 20 users x 10 requests = 200 (the issue's load case)
    .venv/bin/python -m benchmarks.load --small         # 5 users x 4 = 20, to check it works on a busy machine
    .venv/bin/python -m benchmarks.load --users 40 --per-user 10

Starts embedded PostgreSQL and Tansu and the engine service as `bts up` does (only the engine: the
load is on it), loads half a year of daily bars, and publishes the requests round-robin over the
users (one SMA 5/20 run each on one instrument). Prints the wall time from the first publish to the
last stored result, the throughput, the peak lag of the `bts-engine` group on backtest.requested
(sampled every half second) and that it returned to zero; then the baseline, the same use case run
in this process one request after the other (no Kafka, no service: `run_job` on a pool), and the
ratio of the two throughputs (what the event-driven path costs or gains).

The load test in tests/faults/test_load.py runs the same scenario and checks its invariants.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from services.engine.handlers import job_from_request
from shared.contracts import topics
from shared.contracts.events import BacktestRequested, Envelope, StrategySpec, make_event
from shared.contracts.models import BacktestConfiguration, StrategyType
from shared.platform.db.urls import asyncpg_dsn, role_url
from shared.platform.kafka.lag import consumer_lag
from shared.platform.runtime.logging import configure_logging
from tests.faults.stack_control import live_stack
from tests.integration.market import load_daily_symbols, register_owners

ENGINE_GROUP = "bts-engine"
INSTRUMENT = "LDA.NASDAQ"
START, END = date(2020, 1, 1), date(2020, 6, 30)


@dataclass
class LoadReport:
    requests: int
    wall_s: float
    peak_lag: int
    lag_after: int
    lag_samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since publish, lag)
    results: list[asyncpg.Record] = field(default_factory=list)  # id, user_id, status, started_at, completed_at

    @property
    def throughput(self) -> float:
        return self.requests / self.wall_s


def requests(users: int, per_user: int) -> list[Envelope[BacktestRequested]]:
    """Round-robin over the users, so each user's requests interleave with everyone else's."""
    people = [uuid.uuid4() for _ in range(users)]
    events = []
    for _ in range(per_user):
        for user in people:
            config = BacktestConfiguration(
                strategy_id=uuid.uuid4(),
                instrument_ids=[INSTRUMENT],
                start_date=START,
                end_date=END,
                position_size_pct=5,
            )
            strategy = StrategySpec(
                strategy_type=StrategyType.SMA_CROSSOVER, parameters={"fast_period": 5, "slow_period": 20}
            )
            data = BacktestRequested(backtest_id=uuid.uuid4(), user_id=user, configuration=config, strategy=strategy)
            events.append(
                make_event(topics.BACKTEST_REQUESTED, data, source="bench/load", subject=str(data.backtest_id))
            )
    return events


async def prepare(database_url: str, folder: Path) -> None:
    """The instrument and SPY (the default benchmark) with half a year of daily bars."""
    await load_daily_symbols(
        database_url, folder, (INSTRUMENT.split(".")[0], "SPY"), start=START.isoformat(), end=END.isoformat()
    )


async def engine_lag(bootstrap: str) -> int:
    rows = await consumer_lag(bootstrap, groups=[ENGINE_GROUP], topic_names=[topics.BACKTEST_REQUESTED])
    return sum(row.lag or 0 for row in rows)


async def _publish(bootstrap: str, events: list[Envelope[BacktestRequested]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sends = [
            await producer.send(e.type, e.model_dump_json().encode(), key=str(e.data.user_id).encode()) for e in events
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def _finished(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM engine.backtest_results "
            "WHERE id = ANY($1::uuid[]) AND status IN ('COMPLETED', 'FAILED')",
            ids,
        )
    )


async def run_load(
    bootstrap: str,
    database_url: str,
    events: list[Envelope[BacktestRequested]],
    within: float = 1800,
    progress: Any = None,
) -> LoadReport:
    """Publish `events`, wait until every result is stored, sample the engine group's lag meanwhile, then
    wait for the lag to be zero. A warm-up request first: the engine's first run pays one-off costs and
    the group starts committing on the topic (lag is reported per group from its first commit)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        warm = requests(1, 1)
        await register_owners(database_url, [e.data for e in [*warm, *events]])  # users the engine knows
        await _publish(bootstrap, warm)
        deadline = time.monotonic() + within
        while await _finished(conn, [warm[0].data.backtest_id]) < 1:
            assert time.monotonic() < deadline, "the warm-up request did not finish"
            await asyncio.sleep(0.2)
        ids = [e.data.backtest_id for e in events]
        published_at = datetime.now(UTC)
        started = time.monotonic()
        await _publish(bootstrap, events)
        samples: list[tuple[float, int]] = []
        last_sample = -1.0
        while (done := await _finished(conn, ids)) < len(ids):
            assert time.monotonic() < deadline, f"only {done} of {len(ids)} finished"
            if time.monotonic() - last_sample >= 0.5:
                last_sample = time.monotonic()
                samples.append((last_sample - started, await engine_lag(bootstrap)))
            if progress is not None:
                progress(done, len(ids))
            await asyncio.sleep(0.1)
        rows = list(
            await conn.fetch(
                "SELECT id, user_id, status, started_at, completed_at FROM engine.backtest_results "
                "WHERE id = ANY($1::uuid[])",
                ids,
            )
        )
        wall = (max(r["completed_at"] for r in rows) - published_at).total_seconds()
        lag = await engine_lag(bootstrap)
        while lag:  # the group commits after each record: the last commit closes the lag
            assert time.monotonic() < deadline, f"lag stayed at {lag}"
            await asyncio.sleep(0.2)
            lag = await engine_lag(bootstrap)
        peak = max((value for _, value in samples), default=0)
        return LoadReport(len(ids), wall, peak, lag, samples, rows)
    finally:
        await conn.close()


async def baseline(database_url: str, events: list[Envelope[BacktestRequested]]) -> float:
    """Seconds for the same use case in this process, one request after the other (fresh ids)."""
    pool = await asyncpg.create_pool(asyncpg_dsn(role_url(database_url, "engine", "bts")), min_size=1, max_size=4)
    from services.engine.backtest_job import run_job

    try:
        jobs = [
            job_from_request(
                e.data.model_copy(
                    update={
                        "backtest_id": uuid.uuid4(),
                        "configuration": e.data.configuration.model_copy(update={"id": uuid.uuid4()}),
                    }
                )
            )
            for e in events
        ]
        await run_job(pool, job_from_request(requests(1, 1)[0].data))  # warm-up, as for the service
        started = time.perf_counter()
        for job in jobs:
            outcome = await run_job(pool, job)
            assert outcome.status == "COMPLETED", outcome.error_message
        return time.perf_counter() - started
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--small", action="store_true", help="5 users x 4 requests")
    parser.add_argument("--no-baseline", action="store_true", help="skip the in-process baseline")
    args = parser.parse_args()
    configure_logging("bench-load", "WARNING")  # the in-process baseline logs like a service: only problems
    users, per_user = (5, 4) if args.small else (args.users, args.per_user)
    with tempfile.TemporaryDirectory(prefix="bts-load-") as tmp, live_stack(Path(tmp) / "state", ("engine",)) as stack:
        url, bootstrap = stack.database_url, stack.bootstrap
        asyncio.run(prepare(url, Path(tmp)))
        events = requests(users, per_user)
        report = asyncio.run(run_load(bootstrap, url, events))
        failed = sum(1 for r in report.results if r["status"] != "COMPLETED")
        print(
            f"load: {report.requests} backtest.requested from {users} users x {per_user}, one engine service, "
            f"SMA 5/20 on {INSTRUMENT} daily {START}..{END}"
        )
        print(
            f"wall time (first publish -> last stored result): {report.wall_s:.1f} s; "
            f"throughput {report.throughput:.2f} backtests/s; failed {failed}"
        )
        print(
            f"peak lag of {ENGINE_GROUP} on {topics.BACKTEST_REQUESTED}: {report.peak_lag}; "
            f"after the run: {report.lag_after}"
        )
        if not args.no_baseline:
            seconds = asyncio.run(baseline(url, events))
            rate = len(events) / seconds
            print(
                f"baseline (same runs in process, no Kafka): {seconds:.1f} s = {rate:.2f} backtests/s; "
                f"ratio Kafka path / in process: {report.throughput / rate:.2f}"
            )


if __name__ == "__main__":
    main()
