"""The whole event-driven path on a real `bts up` stack: an outside producer publishes ingest and
backtest requests to Kafka; bars load, the engine runs, reports appear, each step announced as an event."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bts.stackfile import StackFile, read_stack
from shared import topics
from shared.db.urls import asyncpg_dsn
from shared.embedded.process import free_port
from shared.events import BacktestRequested, IngestRequested, StrategySpec, make_event, parse_event
from shared.models import BacktestConfiguration, DataSource, StrategyType, Timeframe
from tests.integration.market import write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SYMBOLS = ("PIPA", "PIPB", "SPY")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFile]:
    state = tmp_path_factory.mktemp("pipeline-state")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    env.update(BTS_STATE_DIR=str(state), BTS_API_URL=f"http://127.0.0.1:{free_port()}")
    proc = subprocess.Popen([sys.executable, "-m", "bts", "up"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while (found := read_stack(state)) is None:
            assert proc.poll() is None, "bts up exited"
            assert time.monotonic() < deadline, "bts up did not become ready"
            time.sleep(0.2)
        yield found
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def _publish(bootstrap: str, events: list[tuple[Any, str]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)  # any producer: this one is an "outside" tool
    await producer.start()
    try:
        for event, key in events:
            await producer.send_and_wait(event.type, event.model_dump_json().encode(), key=key.encode())
    finally:
        await producer.stop()


async def _wait_for_events(bootstrap: str, topic: str, subjects: set[str], within: float = 120) -> list[Any]:
    """Read `topic` from the start (no group: no join delay) until every subject has an event."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    found: dict[str, Any] = {}
    try:
        tps = [TopicPartition(topic, p) for p in range(topics.PARTITIONS[topic])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + within
        while set(found) < subjects:
            assert time.monotonic() < deadline, f"no {topic} for {subjects - set(found)}"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = parse_event(topic, record.value or b"")
                    if event.subject in subjects:
                        found[event.subject] = event
    finally:
        await consumer.stop()
    return list(found.values())


async def _register_and_upload(stack: StackFile, folder: Path) -> list[tuple[Any, str]]:
    admin = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    events = []
    try:
        for seed, symbol in enumerate(SYMBOLS):
            await admin.execute(
                "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
                "trading_hours, margin_requirement) VALUES ($1, $2, 'NASDAQ', 'EQUITY', 'USD', 0.01, 1, '{}', 25)",
                f"{symbol}.NASDAQ", symbol,
            )  # fmt: skip
            path = folder / f"{symbol}.csv"
            write_daily_csv(path, seed + 10)
            request = IngestRequested(job_id=uuid.uuid4(), source=DataSource.CSV_FILE,
                                      instrument_id=f"{symbol}.NASDAQ", timeframe=Timeframe.BAR_DAILY,
                                      file_uri=path.as_uri())  # fmt: skip
            events.append((make_event(topics.INGEST_REQUESTED, request, source="test/producer",
                                      subject=f"{symbol}.NASDAQ"), f"{symbol}.NASDAQ"))  # fmt: skip
    finally:
        await admin.close()
    return events


def test_csv_to_bars_to_backtest_to_reports_over_kafka(stack: StackFile, tmp_path: Path) -> None:
    bootstrap = stack.kafka_bootstrap
    ingest_events = asyncio.run(_register_and_upload(stack, tmp_path))
    asyncio.run(_publish(bootstrap, ingest_events))
    loaded = asyncio.run(_wait_for_events(bootstrap, topics.BARS_LOADED, {f"{s}.NASDAQ" for s in SYMBOLS}))
    assert {e.data.rows for e in loaded} == {505}

    user = uuid.uuid4()
    requests = []
    for strategy_type, params in (
        (StrategyType.SMA_CROSSOVER, {"fast_period": 5, "slow_period": 20}),
        (StrategyType.MOMENTUM, {"lookback": 10, "threshold": 0.02}),
    ):
        config = BacktestConfiguration(strategy_id=uuid.uuid4(), instrument_ids=["PIPA.NASDAQ", "PIPB.NASDAQ"],
                                       start_date=date(2020, 1, 1), end_date=date(2021, 12, 31),
                                       position_size_pct=5)  # fmt: skip
        request = BacktestRequested(backtest_id=uuid.uuid4(), user_id=user, configuration=config,
                                    strategy=StrategySpec(strategy_type=strategy_type, parameters=params))  # fmt: skip
        requests.append((make_event(topics.BACKTEST_REQUESTED, request, source="test/producer",
                                    subject=str(request.backtest_id)), str(user)))  # fmt: skip
    asyncio.run(_publish(bootstrap, requests))
    ids = {str(r[0].data.backtest_id) for r in requests}
    completed = asyncio.run(_wait_for_events(bootstrap, topics.BACKTEST_COMPLETED, ids))
    assert all(e.data.trades_count > 0 for e in completed)
    assert all(e.data.metrics.benchmark.beta is not None for e in completed)  # SPY loaded above
    reports = asyncio.run(_wait_for_events(bootstrap, topics.REPORT_GENERATED, ids))
    for event in reports:
        assert Path(event.data.file_path).is_file()
        assert hashlib.sha256(Path(event.data.file_path).read_bytes()).hexdigest() == event.data.content_hash
