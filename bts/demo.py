"""`bts demo`: the platform end to end on embedded parts, in about a minute.

Starts the stack, registers four instruments, loads bundled 2019-2024 daily bars through the ingest
service, runs each built-in strategy through the engine, waits for the reports, prints a table of
headline metrics and the report paths, and stops the stack. Everything goes over Kafka, as an outside
producer would do it. (Registering instruments writes the gateway's table directly until the REST
gateway lands.)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from bts.console import CliError, out
from bts.sample_data import SYMBOLS, write_sample_files
from bts.up import Stack
from shared import topics
from shared.db.urls import asyncpg_dsn, role_url
from shared.events import (
    BacktestRequested,
    IngestRequested,
    StrategySpec,
    make_event,
    parse_event,
)
from shared.kafka.producer import EventPublisher
from shared.models import BacktestConfiguration, DataSource, StrategyType, Timeframe
from shared.settings import Settings

STRATEGIES: list[tuple[str, StrategyType, dict[str, Any]]] = [
    ("SMA 20/50 crossover", StrategyType.SMA_CROSSOVER, {"fast_period": 20, "slow_period": 50}),
    ("Mean reversion z 2.0", StrategyType.MEAN_REVERSION, {"lookback": 20, "entry_z": 2.0, "exit_z": 0.5}),
    ("Momentum 60d > 5%", StrategyType.MOMENTUM, {"lookback": 60, "threshold": 0.05}),
]
TRADED = ["AAPL.NASDAQ", "MSFT.NASDAQ", "GOOG.NASDAQ"]
WATCHED = [topics.BARS_LOADED, topics.INGEST_FAILED, topics.BACKTEST_PROGRESS, topics.BACKTEST_COMPLETED,
           topics.BACKTEST_FAILED, topics.REPORT_GENERATED]  # fmt: skip


@dataclass
class DemoState:
    loaded: dict[str, int] = field(default_factory=dict)
    ingest_errors: dict[str, str] = field(default_factory=dict)
    progress: dict[str, float] = field(default_factory=dict)
    completed: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    reports: dict[str, dict[str, str]] = field(default_factory=dict)


async def _register_instruments(admin_url: str, password: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(role_url(admin_url, "api", password)))
    try:
        for symbol in SYMBOLS:
            await conn.execute(
                "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
                "trading_hours, margin_requirement) VALUES ($1, $2, 'NASDAQ', $3, 'USD', 0.01, 1, $4, 25) "
                "ON CONFLICT (id) DO NOTHING",
                f"{symbol}.NASDAQ", symbol, "ETF" if symbol == "SPY" else "EQUITY",
                '{"timezone": "America/New_York", "sessions": [{"open": "09:30", "close": "16:00"}]}',
            )  # fmt: skip
    finally:
        await conn.close()


async def _watch(bootstrap: str, state: DemoState, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in WATCHED for p in range(topics.PARTITIONS[t])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not stop.is_set():
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    _apply(state, parse_event(record.topic, record.value or b""))
    finally:
        await consumer.stop()


def _apply(state: DemoState, event: Any) -> None:
    data = event.data
    if event.type == topics.BARS_LOADED:
        state.loaded[data.instrument_id] = data.rows
    elif event.type == topics.INGEST_FAILED:
        state.ingest_errors[data.instrument_id] = data.error
    elif event.type == topics.BACKTEST_PROGRESS:
        state.progress[str(data.backtest_id)] = data.progress_pct
    elif event.type == topics.BACKTEST_COMPLETED:
        state.completed[str(data.backtest_id)] = data
        state.progress[str(data.backtest_id)] = 100.0
    elif event.type == topics.BACKTEST_FAILED:
        state.failed[str(data.backtest_id)] = data.error_message
    elif event.type == topics.REPORT_GENERATED:
        state.reports.setdefault(str(data.backtest_id), {})[Path(data.file_path).name] = data.file_path


async def _until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise CliError(f"the demo timed out waiting for {what}; see the service logs in .bts/logs")
        await asyncio.sleep(0.1)


async def _run(stack: Stack, settings: Settings) -> tuple[DemoState, dict[str, str]]:
    assert stack.endpoints is not None
    bootstrap = stack.endpoints.kafka_bootstrap
    files = write_sample_files(stack.state_dir / "uploads" / "demo")
    await _register_instruments(stack.endpoints.database_url, settings.db_role_password)
    state, stop = DemoState(), asyncio.Event()
    watcher = asyncio.create_task(_watch(bootstrap, state, stop))
    names: dict[str, str] = {}
    try:
        async with EventPublisher(bootstrap) as publisher:
            with Progress(TextColumn("{task.description:<28}"), BarColumn(), TaskProgressColumn(),
                          TimeElapsedColumn(), console=out) as bars:  # fmt: skip
                loading = bars.add_task("loading sample bars", total=len(files))
                for symbol, path in files.items():
                    ingest = IngestRequested(job_id=uuid.uuid4(), source=DataSource.CSV_FILE,
                                              instrument_id=f"{symbol}.NASDAQ", timeframe=Timeframe.BAR_DAILY,
                                              file_uri=path.resolve().as_uri())  # fmt: skip
                    job = make_event(topics.INGEST_REQUESTED, ingest, source="bts/demo", subject=str(ingest.job_id))
                    await publisher.publish(job, key=ingest.instrument_id)
                while len(state.loaded) + len(state.ingest_errors) < len(files):
                    bars.update(loading, completed=len(state.loaded))
                    await asyncio.sleep(0.1)
                bars.update(loading, completed=len(state.loaded))
                if state.ingest_errors:
                    raise CliError(f"loading sample data failed: {state.ingest_errors}")
                user = uuid.uuid4()
                tasks = {}
                for title, strategy_type, params in STRATEGIES:
                    config = BacktestConfiguration(strategy_id=uuid.uuid4(), instrument_ids=TRADED,
                                                   start_date=date(2019, 1, 2), end_date=date(2024, 12, 31),
                                                   position_size_pct=10)  # fmt: skip
                    request = BacktestRequested(backtest_id=uuid.uuid4(), user_id=user, configuration=config,
                                                strategy=StrategySpec(name=title, strategy_type=strategy_type,
                                                                      parameters=params))  # fmt: skip
                    event = make_event(topics.BACKTEST_REQUESTED, request, source="bts/demo",
                                       subject=str(request.backtest_id))  # fmt: skip
                    await publisher.publish(event, key=str(user))
                    names[str(request.backtest_id)] = title
                    tasks[str(request.backtest_id)] = bars.add_task(title, total=100)

                def finished() -> bool:
                    for backtest_id, task in tasks.items():
                        bars.update(task, completed=state.progress.get(backtest_id, 0.0))
                    return all(b in state.failed or len(state.reports.get(b, {})) >= 4 for b in tasks)

                await _until(finished, 300, "backtests and reports")
    finally:
        stop.set()
        await watcher
    return state, names


def run_demo(settings: Settings) -> None:
    started = time.monotonic()
    stack = Stack(settings, lambda line: out.print(line))
    try:
        stack.start()
        state, names = asyncio.run(_run(stack, settings))
    finally:
        out.print("stopping ...")
        stack.stop()
    table = Table(title="AAPL, MSFT, GOOG daily 2019-2024, 10% per position, IBKR-like costs")
    table.add_column("strategy", no_wrap=True)
    for column in ("return", "CAGR", "Sharpe", "max DD", "trades", "win", "SPY"):
        table.add_column(column, justify="right", no_wrap=True)
    for backtest_id, title in names.items():
        if backtest_id in state.failed:
            table.add_row(title, f"FAILED: {state.failed[backtest_id]}", *[""] * 6)
            continue
        m = state.completed[backtest_id].metrics
        sharpe = "n/a" if m.risk.sharpe_ratio is None else f"{m.risk.sharpe_ratio:.2f}"
        bench = "n/a" if m.benchmark.benchmark_return is None else f"{m.benchmark.benchmark_return:.1%}"
        table.add_row(title, f"{m.returns.total_return:.1%}", f"{m.returns.cagr:.1%}", sharpe,
                      f"{m.risk.max_drawdown:.1%}", str(state.completed[backtest_id].trades_count),
                      f"{m.trading.win_rate:.0%}", bench)  # fmt: skip
    out.print(table)
    for backtest_id, title in names.items():
        reports = state.reports.get(backtest_id, {})
        if "report.html" in reports:
            out.print(f"{title}:", reports["report.html"], soft_wrap=True)
    out.print(f"demo finished in {time.monotonic() - started:.0f} s")
