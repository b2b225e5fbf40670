"""Benchmark: engine throughput, 1 replica vs 2 replicas in one consumer group, measured in one run.

    .venv/bin/python -m benchmarks.engine_throughput                  # 150,000 one-minute bars a request
    .venv/bin/python -m benchmarks.engine_throughput --bars 50000     # reduced size

Eight users each publish one backtest.requested (SMA 10/30 on EUR/USD one-minute bars, a run of
several seconds, so that per-request fixed costs do not dominate). Their keys are chosen so that
the six partitions hold 2,1,1,2,1,1 requests: whichever way the group splits the partitions between
two replicas (range or round robin), each gets four. The replicas are real `python -m services.engine`
processes on an embedded PostgreSQL and Tansu; before each measurement they have joined the group
and answered warm-up requests on every partition (Tansu's joins are slow), and the period's snapshot
partitions exist. Measured: wall time from
publishing the eight requests to the eighth backtest.completed; printed: both times and the ratio
(goal >= 1.7x on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.partitioner import DefaultPartitioner

from bts.migrations import migrate_all
from services.engine.bars import day_bounds
from shared.contracts import topics
from shared.devstack.stack import EmbeddedStack
from shared.platform.db.timeseries import ensure_partitions
from shared.platform.db.urls import asyncpg_dsn, role_url
from shared.platform.kafka.admin import ensure_topics
from shared.platform.settings import Settings
from tests.integration.conftest import publish, wait_for_events
from tests.integration.engine_replicas import EngineReplica, request_event, users_covering_every_partition
from tests.integration.market import FX_PAIR, load_daily_symbols, load_minute_fx, register_owners

PER_PARTITION = (2, 1, 1, 2, 1, 1)
FX_COSTS = {"type": "PERCENT", "percent": "0.002", "minimum": "2.00"}


def users_spread(seed: int) -> list[uuid.UUID]:
    """Eight user ids, PER_PARTITION of them on each partition of backtest.requested."""
    partitions = list(range(topics.PARTITIONS[topics.BACKTEST_REQUESTED]))
    partitioner, rng = DefaultPartitioner(), random.Random(seed)
    wanted = dict(enumerate(PER_PARTITION))
    chosen: list[uuid.UUID] = []
    while any(wanted.values()):
        user = uuid.UUID(int=rng.getrandbits(128), version=4)
        partition = partitioner(str(user).encode(), partitions, partitions)
        if wanted[partition]:
            wanted[partition] -= 1
            chosen.append(user)
    return chosen


async def snapshot_partitions(admin_url: str, start: date, end: date) -> None:
    """Create the period's daily snapshot partitions up front (a fresh database's one-off cost on plain
    PostgreSQL), so that neither measurement pays it."""
    conn = await asyncpg.connect(asyncpg_dsn(role_url(admin_url, "engine", "bts")))
    try:
        async with conn.transaction():
            await ensure_partitions(conn, "engine.portfolio_snapshots", *day_bounds(start, end))
    finally:
        await conn.close()


class Bench:
    def __init__(self, admin_url: str, bootstrap: str, folder: Path, last_bar: date) -> None:
        self.admin_url, self.bootstrap, self.folder, self.last_bar = admin_url, bootstrap, folder, last_bar
        self.round = 0

    def _events(self, users: list[uuid.UUID], minute: bool) -> list[tuple[Any, str]]:
        events = []
        for user in users:
            if minute:
                event = request_event(
                    user,
                    [FX_PAIR],
                    date(2022, 1, 3),
                    self.last_bar,
                    {"fast_period": 10, "slow_period": 30},
                    timeframe="BAR_1MIN",
                    commission_model=FX_COSTS,
                    position_size_pct=Decimal(5),
                )
            else:
                event = request_event(
                    user, ["THRA.NASDAQ"], date(2020, 1, 1), date(2021, 12, 31), {"fast_period": 5, "slow_period": 20}
                )
            events.append((event, str(user)))
        return events

    def measure(self, replicas: int) -> float:
        self.round += 1
        started = [
            EngineReplica(self.admin_url, self.bootstrap, self.folder, f"r{self.round}-engine-{n}")
            for n in range(replicas)
        ]
        try:
            for replica in started:
                replica.wait_ready()
            # Warm-up: a short request on every partition until every replica has answered some.
            warm = self._events(users_covering_every_partition(6, seed=100 + self.round), minute=False)
            asyncio.run(register_owners(self.admin_url, [e.data for e, _ in warm]))
            asyncio.run(publish(self.bootstrap, warm))
            warm_ids = {str(e.data.backtest_id) for e, _ in warm}
            asyncio.run(wait_for_events(self.bootstrap, topics.BACKTEST_COMPLETED, warm_ids, within=300))
            idle = [r.name for r in started if not r.backtests("backtest finished") & warm_ids]
            if idle:
                raise RuntimeError(f"replicas {idle} got no partition during the warm-up; run again")
            events = self._events(users_spread(seed=self.round), minute=True)
            ids = {str(e.data.backtest_id) for e, _ in events}
            asyncio.run(register_owners(self.admin_url, [e.data for e, _ in events]))
            start = time.perf_counter()
            asyncio.run(publish(self.bootstrap, events))
            asyncio.run(wait_for_events(self.bootstrap, topics.BACKTEST_COMPLETED, ids, within=3600))
            seconds = time.perf_counter() - start
            share = [len(r.backtests("backtest finished") & ids) for r in started]
            print(f"  {replicas} replica(s): {seconds:.1f} s for 8 requests; runs per replica {share}", flush=True)
            return seconds
        finally:
            for replica in started:
                replica.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=150_000, help="one-minute bars per request (>= 50,000)")
    args = parser.parse_args()
    if args.bars < 50_000:
        parser.error("--bars must be at least 50,000 (30 sessions of the 24/5 calendar and some)")
    with tempfile.TemporaryDirectory(prefix="bts-bench-") as tmp:
        settings = Settings(state_dir=Path(tmp) / "state")
        with EmbeddedStack(settings) as endpoints:
            migrate_all(endpoints.database_url, settings.db_role_password)
            asyncio.run(ensure_topics(endpoints.kafka_bootstrap))
            asyncio.run(load_daily_symbols(endpoints.database_url, Path(tmp), ("THRA", "SPY")))
            last_bar = asyncio.run(load_minute_fx(endpoints.database_url, Path(tmp), args.bars))
            asyncio.run(snapshot_partitions(endpoints.database_url, date(2022, 1, 3), last_bar.date()))
            bench = Bench(endpoints.database_url, endpoints.kafka_bootstrap, Path(tmp), last_bar.date())
            print(f"8 requests from 8 users, EUR/USD {args.bars:,} one-minute bars each, SMA 10/30", flush=True)
            one = bench.measure(1)
            two = bench.measure(2)
    print(f"1 replica {one:.1f} s, 2 replicas {two:.1f} s: throughput ratio {one / two:.2f}x (goal >= 1.7x)")


if __name__ == "__main__":
    main()
