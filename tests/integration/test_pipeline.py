"""The whole event-driven path on a real `bts up` stack: an outside producer publishes ingest and
backtest requests to Kafka; bars load, the engine runs, reports appear, each step announced as an event."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bts.stackfile import StackFile
from shared.contracts import topics
from shared.contracts.events import BacktestRequested, IngestRequested, StrategySpec, make_event
from shared.contracts.models import BacktestConfiguration, DataSource, StrategyType, Timeframe
from shared.platform.db.urls import asyncpg_dsn
from tests.integration.conftest import publish, wait_for_events
from tests.integration.market import register_owners, write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SYMBOLS = ("PIPA", "PIPB")  # and the benchmark (SPY), the shared stack's


async def _register_and_upload(stack: StackFile, folder: Path) -> list[tuple[Any, str]]:
    admin = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    events = []
    try:
        for seed, symbol in enumerate(SYMBOLS):
            await admin.execute(
                "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
                "trading_hours, margin_requirement) VALUES ($1, $2, 'NASDAQ', 'EQUITY', 'USD', 0.01, 1, '{}', 25)",
                f"{symbol}.NASDAQ",
                symbol,
            )
            path = folder / f"{symbol}.csv"
            write_daily_csv(path, seed + 10)
            request = IngestRequested(
                job_id=uuid.uuid4(),
                source=DataSource.CSV_FILE,
                instrument_id=f"{symbol}.NASDAQ",
                timeframe=Timeframe.BAR_DAILY,
                file_uri=path.as_uri(),
            )
            events.append(
                (
                    make_event(topics.INGEST_REQUESTED, request, source="test/producer", subject=f"{symbol}.NASDAQ"),
                    f"{symbol}.NASDAQ",
                )
            )
    finally:
        await admin.close()
    return events


def test_csv_to_bars_to_backtest_to_reports_over_kafka(running_stack: StackFile) -> None:
    stack = running_stack
    bootstrap = stack.kafka_bootstrap
    uploads = Path(stack.services[0].log).parent.parent / "uploads"  # <state dir>/uploads, shared with ingest
    uploads.mkdir(exist_ok=True)
    ingest_events = asyncio.run(_register_and_upload(stack, uploads))
    asyncio.run(publish(bootstrap, ingest_events))
    loaded = asyncio.run(wait_for_events(bootstrap, topics.BARS_LOADED, {f"{s}.NASDAQ" for s in SYMBOLS}))
    assert {e.data.rows for e in loaded} == {505}

    user = uuid.uuid4()
    requests = []
    for strategy_type, params in (
        (StrategyType.SMA_CROSSOVER, {"fast_period": 5, "slow_period": 20}),
        (StrategyType.MOMENTUM, {"lookback": 10, "threshold": 0.02}),
    ):
        config = BacktestConfiguration(
            strategy_id=uuid.uuid4(),
            instrument_ids=["PIPA.NASDAQ", "PIPB.NASDAQ"],
            start_date=date(2020, 1, 1),
            end_date=date(2021, 12, 31),
            position_size_pct=5,
        )
        request = BacktestRequested(
            backtest_id=uuid.uuid4(),
            user_id=user,
            configuration=config,
            strategy=StrategySpec(strategy_type=strategy_type, parameters=params),
        )
        requests.append(
            (
                make_event(
                    topics.BACKTEST_REQUESTED, request, source="test/producer", subject=str(request.backtest_id)
                ),
                str(user),
            )
        )
    asyncio.run(register_owners(stack.database_url, [r[0].data for r in requests]))
    asyncio.run(publish(bootstrap, requests))
    ids = {str(r[0].data.backtest_id) for r in requests}
    completed = asyncio.run(wait_for_events(bootstrap, topics.BACKTEST_COMPLETED, ids))
    assert all(e.data.trades_count > 0 for e in completed)
    assert all(e.data.metrics.benchmark.beta is not None for e in completed)  # the shared stack's SPY
    reports = asyncio.run(wait_for_events(bootstrap, topics.REPORT_GENERATED, ids))
    for event in reports:
        assert Path(event.data.file_path).is_file()
        assert hashlib.sha256(Path(event.data.file_path).read_bytes()).hexdigest() == event.data.content_hash
