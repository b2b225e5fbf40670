"""Versioned market data on the real database: a re-import that changes bars keeps their previous values
(market_data_history, system time), reads as of a time return the bars of then, a backtest rerun as of the
original's time makes the same trades while one on the latest data does not, retention takes the history
with the bars, and the coverage summary counts the sessions without a bar."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pandas as pd
import pytest
import pytest_asyncio

from services.api.domain.coverage import series_coverage
from services.engine.backtest_job import run_job
from services.engine.bars import load_bars
from services.engine.job import BacktestJob
from services.ingest.csv_import import ImportPlan, import_csv
from services.ingest.domain.sessions import SessionTable
from services.ingest.retention import purge_history_before
from shared.contracts.models.manifest import RunManifest
from shared.devstack.stack import Endpoints
from shared.domain.calendars import calendar_for
from shared.platform.db.bar_columns import read_bar_columns, read_spans_columns
from shared.platform.db.reads import SeriesSpan, fetch_data_versions, fetch_series_days, stream_bars
from tests.integration.market import backtest_job, engine_pool_on, load_daily_symbols, other_vendor, write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

ConnectAs = Callable[[str], Awaitable[asyncpg.Connection]]
INSTRUMENT, BENCHMARK = "VRA.NASDAQ", "VRB"
LO, HI = datetime(2020, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine_pool(migrated: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[asyncpg.Pool]:
    async with engine_pool_on(migrated.database_url, tmp_path_factory.mktemp("versioned"), ("VRA", "VRB")) as pool:
        yield pool


async def _import(conn: asyncpg.Connection, path: Path, instrument: str) -> Any:
    plan = ImportPlan(path, instrument, "BAR_DAILY", SessionTable(calendar_for("NASDAQ")))
    async with conn.transaction():
        return await import_csv(conn, plan)


async def _manifest(pool: asyncpg.Pool, job: BacktestJob) -> RunManifest:
    async with pool.acquire() as conn:
        stored: Any = await conn.fetchval("SELECT manifest FROM engine.backtest_results WHERE id = $1", job.backtest_id)
    return RunManifest.model_validate(json.loads(stored))


async def test_a_reimport_keeps_the_replaced_bars_and_a_rerun_as_of_the_original_makes_the_same_trades(
    engine_pool: asyncpg.Pool, connect_as: ConnectAs, tmp_path: Path
) -> None:
    original = backtest_job([INSTRUMENT], BENCHMARK)
    assert (await run_job(engine_pool, original)).status == "COMPLETED"
    async with engine_pool.acquire() as conn:
        as_of: datetime = await conn.fetchval(
            "SELECT data_as_of FROM engine.backtest_results WHERE id = $1", original.backtest_id
        )
        before = await read_bar_columns(conn, INSTRUMENT, "BAR_DAILY", LO, HI)
    first = await _manifest(engine_pool, original)
    assert first.data_as_of == as_of

    # The same sessions from another vendor: 2% higher for four months.
    write_daily_csv(tmp_path / "vra.csv", 0)  # what load_daily_symbols loaded (seed 0)
    changed = other_vendor(tmp_path / "vra.csv", tmp_path / "vra-other.csv")
    ingest = await connect_as("ingest")
    try:
        outcome = await _import(ingest, tmp_path / "vra-other.csv", INSTRUMENT)
        history = await ingest.fetch(
            'SELECT "timestamp", close, valid_from, valid_to FROM ingest.market_data_history '
            'WHERE instrument_id = $1 ORDER BY "timestamp"',
            INSTRUMENT,
        )
    finally:
        await ingest.close()
    assert (outcome.inserted, outcome.updated) == (0, changed)
    assert changed == 80
    assert len(history) == changed  # one replaced version per changed bar, valid until the re-import
    assert all(r["valid_to"] > as_of and r["valid_from"] <= as_of for r in history)
    kept = {r["timestamp"]: float(r["close"]) for r in history}
    stamps = pd.DatetimeIndex(before.timestamp.view("datetime64[ns]")).tz_localize("UTC")
    assert kept == {s.to_pydatetime(): c for s, c in zip(stamps, before.close, strict=True) if s in kept}

    async with engine_pool.acquire() as conn:
        then = await read_bar_columns(conn, INSTRUMENT, "BAR_DAILY", LO, HI, as_of=as_of)
        now = await read_bar_columns(conn, INSTRUMENT, "BAR_DAILY", LO, HI)
    assert then.timestamp.tolist() == before.timestamp.tolist()
    assert then.close.tolist() == before.close.tolist()
    assert int((now.close != before.close).sum()) == changed
    api = await connect_as("api")
    try:
        async with api.transaction():
            batches = stream_bars(api, INSTRUMENT, "BAR_DAILY", LO, HI, as_of=as_of)
            streamed = [r async for batch in batches for r in batch]
        versions = await fetch_data_versions(api, INSTRUMENT, None)
    finally:
        await api.close()
    assert [float(r["close"]) for r in streamed] == before.close.tolist()
    assert [(v.inserted, v.updated) for v in versions] == [(505, 0), (0, changed)]
    assert versions[1].recorded_at > as_of

    reproduced = backtest_job([INSTRUMENT], BENCHMARK, data_as_of=as_of)
    latest = backtest_job([INSTRUMENT], BENCHMARK)
    for job in (reproduced, latest):
        assert (await run_job(engine_pool, job)).status == "COMPLETED"
    again, newer = await _manifest(engine_pool, reproduced), await _manifest(engine_pool, latest)
    assert again.data_as_of == as_of
    assert again.data == first.data
    assert again.trades_sha256 == first.trades_sha256
    assert newer.data_as_of is not None
    assert newer.data_as_of > as_of
    assert newer.data[INSTRUMENT].sha256 != first.data[INSTRUMENT].sha256
    assert newer.trades_sha256 != first.trades_sha256

    # Retention takes the replaced versions of the bars it removes, and only those.
    ingest = await connect_as("ingest")
    try:
        cutoff = datetime(2021, 1, 1, tzinfo=UTC)
        assert await purge_history_before(ingest, cutoff) >= 42  # Nov-Dec 2020: 42 sessions
        left = await ingest.fetch(
            'SELECT "timestamp" FROM ingest.market_data_history WHERE instrument_id = $1', INSTRUMENT
        )
    finally:
        await ingest.close()
    assert len(left) == changed - 42
    assert all(r["timestamp"] >= cutoff for r in left)


async def test_coverage_counts_the_sessions_without_a_bar_as_ranges(
    engine_pool: asyncpg.Pool, connect_as: ConnectAs, tmp_path: Path
) -> None:
    api = await connect_as("api")
    ingest = await connect_as("ingest")
    try:
        await api.execute(
            "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
            "trading_hours, margin_requirement) VALUES ('VRG.NASDAQ', 'VRG', 'NASDAQ', 'EQUITY', 'USD', 0.01, 1, "
            "'{}', 25) ON CONFLICT DO NOTHING"
        )
        write_daily_csv(tmp_path / "vrg.csv", 7)
        frame = pd.read_csv(tmp_path / "vrg.csv")
        hole = (frame["timestamp"] >= "2020-10-12") & (frame["timestamp"] <= "2020-10-16")  # a week without bars
        frame[~hole].to_csv(tmp_path / "vrg-gap.csv", index=False)
        await _import(ingest, tmp_path / "vrg-gap.csv", "VRG.NASDAQ")
        (found,) = await fetch_series_days(api, "VRG.NASDAQ", "BAR_DAILY")
    finally:
        await api.close()
        await ingest.close()
    coverage = series_coverage(found)
    assert (coverage.bars, coverage.sessions_with_bars, coverage.expected_sessions) == (500, 500, 505)
    assert (coverage.gap_sessions, coverage.gap_ranges) == (5, 1)
    assert coverage.gaps == [(date(2020, 10, 12), date(2020, 10, 16))]
    assert coverage.first_bar == datetime(2020, 1, 2, tzinfo=UTC)
    assert coverage.last_bar == datetime(2021, 12, 31, tzinfo=UTC)
    assert coverage.adjustment == "RAW"
    assert coverage.last_import is not None


async def test_a_read_as_of_a_time_waits_for_an_import_stamped_before_it_so_a_rerun_reads_the_same(
    engine_pool: asyncpg.Pool, connect_as: ConnectAs, migrated: Endpoints, tmp_path: Path
) -> None:
    await load_daily_symbols(migrated.database_url, tmp_path, ("VRC",))  # seed 0, as written below
    write_daily_csv(tmp_path / "vrc.csv", 0)
    changed = other_vendor(tmp_path / "vrc.csv", tmp_path / "vrc-other.csv")
    start, end = date(2020, 1, 1), date(2021, 12, 31)
    ingest = await connect_as("ingest")
    try:
        importing = ingest.transaction()
        await importing.start()
        plan = ImportPlan(tmp_path / "vrc-other.csv", "VRC.NASDAQ", "BAR_DAILY", SessionTable(calendar_for("NASDAQ")))
        await import_csv(ingest, plan)  # stamped and merged, not committed yet
        async with engine_pool.acquire() as conn, conn.transaction():
            as_of: datetime = await conn.fetchval("SELECT now()")  # after the import's version time
            reading = asyncio.ensure_future(load_bars(conn, "VRC.NASDAQ", "BAR_DAILY", start, end, as_of))
            await asyncio.sleep(1.0)
            assert not reading.done()  # the import stamped before as_of is still open: the read waits
            await importing.commit()
            first = await asyncio.wait_for(reading, 60)
    finally:
        await ingest.close()
    async with engine_pool.acquire() as conn:
        again = await load_bars(conn, "VRC.NASDAQ", "BAR_DAILY", start, end, as_of)
    assert first["close"].tolist() == again["close"].tolist()
    loaded_first = pd.read_csv(tmp_path / "vrc.csv")["close"].to_numpy()
    assert int((first["close"].to_numpy() != loaded_first).sum()) == changed  # the read has the import


async def test_several_series_read_in_one_statement_equal_each_read_alone_as_of_any_time(
    engine_pool: asyncpg.Pool, connect_as: ConnectAs, migrated: Endpoints, tmp_path: Path
) -> None:
    await load_daily_symbols(migrated.database_url, tmp_path, ("VRD",))  # seed 0, as written below
    async with engine_pool.acquire() as conn:
        before: datetime = await conn.fetchval("SELECT now()")
    write_daily_csv(tmp_path / "vrd.csv", 0)
    other_vendor(tmp_path / "vrd.csv", tmp_path / "vrd-other.csv")
    ingest = await connect_as("ingest")
    try:
        await _import(ingest, tmp_path / "vrd-other.csv", "VRD.NASDAQ")  # replaced bars go to the history
    finally:
        await ingest.close()
    spans = [
        SeriesSpan("VRD.NASDAQ", "BAR_DAILY", LO, HI),
        SeriesSpan("NONE.NASDAQ", "BAR_DAILY", LO, HI),  # no such series: no rows
        SeriesSpan("VRA.NASDAQ", "BAR_DAILY", datetime(2021, 3, 1, tzinfo=UTC), HI),
        SeriesSpan("VRD.NASDAQ", "BAR_DAILY", datetime(2020, 12, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)),
    ]
    async with engine_pool.acquire() as conn:
        after: datetime = await conn.fetchval("SELECT now()")
        for when in (before, after):
            together = await read_spans_columns(conn, spans, when)
            alone = [await read_bar_columns(conn, *span, as_of=when) for span in spans]
            assert [len(c.close) for c in together] == [len(c.close) for c in alone]
            for got, expected in zip(together, alone, strict=True):
                for field in ("timestamp", "open", "high", "low", "close", "volume"):
                    assert (getattr(got, field) == getattr(expected, field)).all(), field
        first = await read_spans_columns(conn, spans[:1], before)
        then = await read_spans_columns(conn, spans[:1], after)
    assert len(together[0].close) == 505
    assert len(together[1].close) == 0
    assert (first[0].close != then[0].close).sum() == 80  # the history as of before, the new bars after
