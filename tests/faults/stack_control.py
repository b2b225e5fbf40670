"""A whole stack the fault tests can break: `bts up`'s own Stack run in this process, so the test holds
the embedded PostgreSQL and Tansu and can stop and start each on its port and data, while the services
run as subprocesses with the BTS_* URLs set, as `bts up` runs them. Plus what the tests ask of it:
raw publishing, a "handled" barrier from committed offsets, /ready, dead letters, an S3 endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bts.up import RunningService, Stack
from shared.contracts import topics
from shared.contracts.events import BacktestRequested, Envelope, IngestRequested, StrategySpec, make_event
from shared.contracts.models import BacktestConfiguration, DataSource, StrategyType, Timeframe
from shared.devstack.postgres import EmbeddedPostgres
from shared.devstack.process import free_port, port_open, stop_process, wait_until
from shared.devstack.tansu import EmbeddedTansu
from shared.platform.db.ownership import SERVICE_NAMES
from shared.platform.db.urls import asyncpg_dsn
from shared.platform.kafka.dlq import DeadLetter, read_dlq
from shared.platform.kafka.lag import consumer_lag, high_watermarks
from shared.platform.settings import Settings

# Which group consumes which topic (the ownership table of docs/architecture.md, as the services wire it).
CONSUMERS: dict[str, tuple[str, ...]] = {
    topics.INGEST_REQUESTED: ("bts-ingest",),
    topics.BACKTEST_REQUESTED: ("bts-engine", "bts-api"),
    topics.BACKTEST_COMPLETED: ("bts-reporting", "bts-api"),
    topics.BACKTEST_FAILED: ("bts-reporting", "bts-api"),
    topics.BACKTEST_PROGRESS: ("bts-api",),
    topics.INGEST_PROGRESS: ("bts-api",),
    topics.BARS_LOADED: ("bts-api",),
    topics.INGEST_FAILED: ("bts-api",),
}
SCHEMAS = ("api", "ingest", "engine", "reporting")


@dataclass(frozen=True)
class Sent:
    topic: str
    partition: int
    offset: int
    key: str | None


class LiveStack:
    """A started `Stack` and handles on its parts."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        assert stack.endpoints is not None
        self.database_url = stack.endpoints.database_url
        self.bootstrap = stack.endpoints.kafka_bootstrap
        self.state_dir = stack.state_dir

    @property
    def postgres(self) -> EmbeddedPostgres:
        assert self.stack.embedded.postgres is not None
        return self.stack.embedded.postgres

    @property
    def tansu(self) -> EmbeddedTansu:
        assert self.stack.embedded.tansu is not None
        return self.stack.embedded.tansu

    @property
    def services(self) -> list[RunningService]:
        return self.stack.services

    def service(self, name: str) -> RunningService:
        return next(s for s in self.services if s.name == name)

    def assert_services_alive(self) -> None:
        for svc in self.services:
            assert svc.proc.poll() is None, f"{svc.name} exited with {svc.proc.returncode}; see {svc.log_path}"

    # -- database -------------------------------------------------------------------------------------------
    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0][0] if rows else None

    async def unpublished_outbox(self) -> dict[str, int]:
        counts = {}
        for schema in SCHEMAS:
            counts[schema] = int(
                await self.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
            )
        return counts

    # -- readiness ------------------------------------------------------------------------------------------
    def ready(self) -> dict[str, tuple[int, dict[str, Any]]]:
        """GET /ready of every service: status code and body."""
        answers = {}
        with httpx.Client(timeout=10) as client:
            for svc in self.services:
                response = client.get(svc.url + "/ready")
                answers[svc.name] = (response.status_code, response.json())
        return answers

    def wait_ready_state(self, ready: bool, within: float = 60) -> dict[str, tuple[int, dict[str, Any]]]:
        """Poll /ready of every service until each answers 200 (ready) or 503 (not ready)."""
        want = 200 if ready else 503
        deadline = time.monotonic() + within
        while True:
            answers = self.ready()
            if all(code == want for code, _ in answers.values()):
                return answers
            assert time.monotonic() < deadline, f"/ready did not all become {want}: {answers}"
            time.sleep(0.3)

    # -- kafka ----------------------------------------------------------------------------------------------
    async def send(self, messages: list[tuple[str, bytes, str | None]]) -> list[Sent]:
        """Publish raw messages (topic, value, key) in order, each acknowledged; where each landed."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, max_request_size=4 * 1024 * 1024)
        await producer.start()
        sent = []
        try:
            for topic, value, key in messages:
                meta = await producer.send_and_wait(topic, value, key=key.encode() if key else None)
                sent.append(Sent(topic, meta.partition, meta.offset, key))
        finally:
            await producer.stop()
        return sent

    async def committed(self, group: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10_000)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group, partitions=tps)  # partitions=: Tansu needs it
        finally:
            await admin.close()
        return {tp: meta.offset for tp, meta in offsets.items()}

    async def wait_handled(self, sent: list[Sent], within: float = 120) -> None:
        """Until every group that consumes a message's topic has committed past it (handled or dead-lettered)."""
        wanted: dict[tuple[str, TopicPartition], int] = {}
        for s in sent:
            for group in CONSUMERS[s.topic]:
                key = (group, TopicPartition(s.topic, s.partition))
                wanted[key] = max(wanted.get(key, 0), s.offset + 1)
        deadline = time.monotonic() + within
        while wanted:
            for group in {g for g, _ in wanted}:
                tps = [tp for g, tp in wanted if g == group]
                for tp, offset in (await self.committed(group, tps)).items():
                    if offset >= wanted[(group, tp)]:
                        del wanted[(group, tp)]
            if wanted:
                self.assert_services_alive()
                assert time.monotonic() < deadline, f"not handled in {within:.0f} s: {wanted}"
                await asyncio.sleep(0.3)

    async def wait_settled(self, within: float = 120) -> None:
        """Until every service group has read everything on the platform's topics and every outbox is empty,
        twice in a row (a handled event may cause more)."""
        deadline = time.monotonic() + within
        quiet = 0
        while quiet < 2:
            lag = await consumer_lag(self.bootstrap, groups=sorted({g for gs in CONSUMERS.values() for g in gs}))
            behind = [row for row in lag if row.lag]
            backlog = await self.unpublished_outbox()
            quiet = quiet + 1 if not behind and not any(backlog.values()) else 0
            if quiet < 2:
                self.assert_services_alive()
                assert time.monotonic() < deadline, f"not settled: lag {behind}, outbox {backlog}"
                await asyncio.sleep(0.5)

    async def dead_letters(self, topic: str) -> list[DeadLetter]:
        return await read_dlq(self.bootstrap, topic, limit=1000)

    async def high_watermark(self, topic: str) -> int:
        """Messages ever written to `topic` (sum of its partitions' high watermarks)."""
        tps = [TopicPartition(topic, p) for p in range(topics.PARTITIONS.get(topic, 1))]
        return sum((await high_watermarks(self.bootstrap, tps, {})).values())


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 120, every: float = 0.3) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {within:.0f} s"
        await asyncio.sleep(every)


def file_digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@contextlib.contextmanager
def live_stack(
    state_dir: Path, services: tuple[str, ...] = SERVICE_NAMES, tansu_storage: str = "memory://tansu/"
) -> Iterator[LiveStack]:
    """Embedded PostgreSQL and Tansu (whatever BTS_* says: these tests must own the parts they break),
    migrated, topics created, `services` started and ready."""
    settings = Settings(
        state_dir=state_dir,
        api_url=f"http://127.0.0.1:{free_port()}",
        database_url=None,
        kafka_bootstrap=None,
        tansu_storage=tansu_storage,
    )
    stack = Stack(settings, say=lambda line: None, service_names=services)
    try:
        stack.start(ready_timeout=180)
        yield LiveStack(stack)
    finally:
        stack.stop()


@contextlib.contextmanager
def s3_endpoint() -> Iterator[dict[str, str]]:
    """moto's S3 server on a free loopback port with bucket `tansu`; yields the AWS_* variables for Tansu."""
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 30, f"moto_server on port {port}")
        endpoint = f"http://127.0.0.1:{port}"
        httpx.put(f"{endpoint}/tansu", timeout=10).raise_for_status()
        yield {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "eu-west-2",
            "AWS_ENDPOINT": endpoint,
            "AWS_ALLOW_HTTP": "true",
        }
    finally:
        stop_process(server)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables for this process and its children (Tansu reads its S3 settings from them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- work the tests publish ----------------------------------------------------------------------------------
def backtest_event(
    user: uuid.UUID,
    instruments: list[str],
    start: date = date(2020, 1, 1),
    end: date = date(2020, 12, 31),
    backtest_id: uuid.UUID | None = None,
) -> Envelope[Any]:
    """A backtest.requested as an outside producer would publish it (SMA 5/20 on daily bars)."""
    config = BacktestConfiguration(
        strategy_id=uuid.uuid4(), instrument_ids=instruments, start_date=start, end_date=end, position_size_pct=5
    )
    strategy = StrategySpec(strategy_type=StrategyType.SMA_CROSSOVER, parameters={"fast_period": 5, "slow_period": 20})
    request = BacktestRequested(
        backtest_id=backtest_id or uuid.uuid4(), user_id=user, configuration=config, strategy=strategy
    )
    return make_event(topics.BACKTEST_REQUESTED, request, source="test/faults", subject=str(request.backtest_id))


def ingest_event(instrument: str, csv_path: Path, job_id: uuid.UUID | None = None) -> Envelope[Any]:
    request = IngestRequested(
        job_id=job_id or uuid.uuid4(),
        source=DataSource.CSV_FILE,
        instrument_id=instrument,
        timeframe=Timeframe.BAR_DAILY,
        file_uri=csv_path.as_uri(),
    )
    return make_event(topics.INGEST_REQUESTED, request, source="test/faults", subject=str(request.job_id))


def message(event: Envelope[Any], key: str) -> tuple[str, bytes, str | None]:
    return event.type, event.model_dump_json().encode(), key


async def register_instrument(database_url: str, instrument: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
            "trading_hours, margin_requirement) VALUES ($1, $2, 'NASDAQ', 'EQUITY', 'USD', 0.01, 1, '{}', 25) "
            "ON CONFLICT DO NOTHING",
            instrument,
            instrument.split(".")[0],
        )
    finally:
        await conn.close()


@contextlib.contextmanager
def engine_frozen_mid_run(stack: LiveStack, ids: list[uuid.UUID], within: float = 120) -> Iterator[uuid.UUID]:
    """Freeze the engine process (SIGSTOP) while one of `ids` is RUNNING, and thaw it on exit: whatever the
    caller breaks inside happens while that backtest is in flight, however fast runs are on this machine."""
    proc = stack.service("engine").proc
    deadline = time.monotonic() + within

    async def running() -> uuid.UUID | None:
        found = await stack.fetchval(
            "SELECT id FROM engine.backtest_results WHERE id = ANY($1::uuid[]) AND status = 'RUNNING' LIMIT 1", ids
        )
        return found if isinstance(found, uuid.UUID) else None

    while True:
        caught = asyncio.run(running())
        if caught is not None:
            proc.send_signal(signal.SIGSTOP)
            if asyncio.run(running()) == caught:
                break  # frozen with that run in flight
            proc.send_signal(signal.SIGCONT)  # it finished in between: try the next one
        assert time.monotonic() < deadline, "no backtest was caught running"
        time.sleep(0.02)
    try:
        yield caught
    finally:
        proc.send_signal(signal.SIGCONT)
