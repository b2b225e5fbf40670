"""Engine replicas as real processes (`python -m services.engine`) in one consumer group, for the scale-out
and fault tests and the throughput benchmark: start, wait until ready, read their JSON logs, kill."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from aiokafka.partitioner import DefaultPartitioner

from shared.contracts import topics
from shared.contracts.events import BacktestRequested, Envelope, StrategySpec, make_event
from shared.contracts.models import BacktestConfiguration, StrategyType
from shared.devstack.process import free_port
from shared.platform.db.urls import role_url

# Tuning that a replica started beside a stack takes from the caller's environment, as the stack did.
PASSED_THROUGH = ("BTS_KAFKA_FETCH_MAX_WAIT_MS",)


def log_records(log: Path, event: str) -> list[dict[str, Any]]:
    """The structured JSON log records named `event` of a service's log file."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == event:
                found.append(record)
    return found


def finished_backtests(log: Path, among: set[str]) -> set[str]:
    """The backtests of `among` that the engine writing `log` finished."""
    return {str(r["backtest_id"]) for r in log_records(log, "backtest finished")} & among


def last_assignment(log: Path, group: str, topic: str) -> set[int]:
    """The partitions of `topic` last assigned, in consumer group `group`, to the service writing `log` (from
    aiokafka's log line of each assignment); none before its first."""
    found: set[int] = set()
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and "Setting newly assigned partitions" in line:
            event = str(json.loads(line).get("event", ""))
            if event.endswith(f" for group {group}"):
                found = {int(p) for p in re.findall(rf"topic='{re.escape(topic)}', partition=(\d+)\)", event)}
    return found


def wait_until_shared(logs: list[Path], within: float = 60) -> None:
    """Until the engines writing `logs` hold a share each of backtest.requested, together all of it: the
    consumer group has rebalanced onto all of them (Tansu takes one or two session timeouts)."""
    topic, partitions = topics.BACKTEST_REQUESTED, topics.PARTITIONS[topics.BACKTEST_REQUESTED]
    deadline = time.monotonic() + within
    while True:
        shares = [last_assignment(log, "bts-engine", topic) for log in logs]
        if all(shares) and sorted(p for share in shares for p in share) == list(range(partitions)):
            return
        assert time.monotonic() < deadline, f"backtest.requested not shared by {len(logs)} engines: {shares}"
        time.sleep(0.2)


class EngineReplica:
    def __init__(self, admin_url: str, bootstrap: str, folder: Path, name: str, state_dir: Path | None = None) -> None:
        """Logs to `folder`/`name`.log; the state dir is `folder` unless given (e.g. the stack's)."""
        self.name, self.port = name, free_port()
        self.log = folder / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_") or k in PASSED_THROUGH}
        env.update(
            BTS_DATABASE_URL=role_url(admin_url, "engine", "bts"),
            BTS_KAFKA_BOOTSTRAP=bootstrap,
            BTS_SERVICE_PORT=str(self.port),
            BTS_STATE_DIR=str(state_dir or folder),
        )
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.engine"], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, within: float = 180) -> None:
        deadline = time.monotonic() + within
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{self.name} not ready: {self.log.read_text()[-3000:]}"
            time.sleep(0.2)

    def records(self, event: str) -> list[dict[str, Any]]:
        """The replica's structured log records named `event`."""
        return log_records(self.log, event)

    def backtests(self, event: str) -> set[str]:
        return {str(r["backtest_id"]) for r in self.records(event) if "backtest_id" in r}

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def users_covering_every_partition(count: int, seed: int = 0) -> list[uuid.UUID]:
    """User ids whose keys land on every partition of backtest.requested (so every replica gets work),
    then more to make up `count`, spread round the partitions."""
    import random

    partitions = list(range(topics.PARTITIONS[topics.BACKTEST_REQUESTED]))
    partitioner = DefaultPartitioner()
    rng = random.Random(seed)
    by_partition: dict[int, list[uuid.UUID]] = {p: [] for p in partitions}
    while sum(len(v) for v in by_partition.values()) < max(count, len(partitions)) * 4:
        user = uuid.UUID(int=rng.getrandbits(128), version=4)
        by_partition[partitioner(str(user).encode(), partitions, partitions)].append(user)
    ordered = [by_partition[p][n] for n in range(count) for p in partitions if n < len(by_partition[p])]
    return ordered[:count]


def request_event(
    user: uuid.UUID,
    instrument_ids: list[str],
    start: date,
    end: date,
    parameters: dict[str, Any],
    timeframe: str = "BAR_DAILY",
    **config: Any,
) -> Envelope[Any]:
    """A backtest.requested event as an outside producer would publish it (SMA crossover)."""
    configuration = BacktestConfiguration(
        strategy_id=uuid.uuid4(), instrument_ids=instrument_ids, start_date=start, end_date=end, **config
    )
    request = BacktestRequested(
        backtest_id=uuid.uuid4(),
        user_id=user,
        configuration=configuration,
        timeframe=timeframe,
        strategy=StrategySpec(strategy_type=StrategyType.SMA_CROSSOVER, parameters=parameters),
    )
    return make_event(topics.BACKTEST_REQUESTED, request, source="test/producer", subject=str(request.backtest_id))
