"""Reports on the real database: files with matching SHA-256, idempotent rows, failed results, retention."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from services.engine import repository as engine_repository
from services.engine.backtest_job import run_job
from services.engine.job import BacktestJob
from services.reporting.report_job import ResultNotFinished, generate_reports
from services.reporting.retention import RetentionJob
from shared.devstack.stack import Endpoints
from shared.platform.db.urls import role_url
from tests.integration.market import backtest_job, load_daily_symbols

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def _job(**overrides: object) -> BacktestJob:
    request = {
        "configuration": {
            "instrument_ids": ["REPA.NASDAQ"],
            "start_date": "2020-01-01",
            "end_date": "2021-12-31",
            "benchmark_symbol": "REPB",
        },
        "strategy": {
            "strategy_type": "SMA_CROSSOVER",
            "name": "sma test",
            "parameters": {"fast_period": 5, "slow_period": 20},
        },
    }
    return backtest_job(["REPA.NASDAQ"], "REPB", **{"request": request, **overrides})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def results(migrated: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, uuid.UUID]]:
    await load_daily_symbols(migrated.database_url, tmp_path_factory.mktemp("bars"), ("REPA", "REPB"))
    pool = await asyncpg.create_pool(role_url(migrated.database_url, "engine", "bts"), min_size=1, max_size=2)
    try:
        completed, failed = _job(), _job(instrument_ids=["NOPE.NASDAQ"])
        assert (await run_job(pool, completed)).status == "COMPLETED"
        assert (await run_job(pool, failed)).status == "FAILED"
        yield {"completed": completed.backtest_id, "failed": failed.backtest_id}
    finally:
        await pool.close()


@pytest_asyncio.fixture(loop_scope="module")
async def reporting(migrated: Endpoints) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(role_url(migrated.database_url, "reporting", "bts"))
    yield conn
    await conn.close()


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


async def test_three_report_types_with_matching_hashes(
    results: dict[str, uuid.UUID], reporting: asyncpg.Connection, tmp_path: Path
) -> None:
    reports = await generate_reports(reporting, results["completed"], tmp_path)
    assert sorted((r.report_type, Path(r.file_path).name) for r in reports) == [
        ("CSV", "portfolio_daily.csv"),
        ("CSV", "trades.csv"),
        ("HTML", "report.html"),
        ("JSON", "result.json"),
    ]
    for report in reports:
        assert _sha256(report.file_path) == report.content_hash
    metadata = await reporting.fetchval(
        "SELECT metadata FROM reporting.performance_reports WHERE id = $1", reports[0].id
    )
    assert '"instrument_ids": ["REPA.NASDAQ"]' in metadata
    html = Path(next(r.file_path for r in reports if r.report_type == "HTML")).read_text()
    assert html.count('class="plotly-graph-div"') == 8  # with the tear sheet's exposure and yearly returns
    document = json.loads(Path(next(r.file_path for r in reports if r.report_type == "JSON")).read_text())
    extended = document["extended"]  # computed from the stored snapshots, trades and benchmark closes
    assert extended["costs"]["commission"] > 0
    assert extended["exposure"]["max_gross_leverage"] > 0
    assert extended["ratios"]["daily_var_95"] is not None
    assert extended["by_instrument"][0]["instrument_id"] == "REPA.NASDAQ"
    assert "<script src=" not in html  # plotly.js is inlined: the file opens offline
    assert "sma test" in html
    assert len(html.encode()) < 6_000_000
    trades_csv = Path(next(r.file_path for r in reports if r.file_path.endswith("trades.csv"))).read_text()
    assert trades_csv.splitlines()[0] == (
        "instrument_id,side,entry_time,entry_price,exit_time,exit_price,quantity,commission,slippage,pnl,pnl_pct"
    )
    # Tampering is caught: the stored hash no longer matches the file.
    Path(reports[0].file_path).write_text("tampered")
    stored = await reporting.fetchval(
        "SELECT content_hash FROM reporting.performance_reports WHERE id = $1", reports[0].id
    )
    assert _sha256(reports[0].file_path) != stored


async def test_redelivery_does_not_duplicate(
    results: dict[str, uuid.UUID], reporting: asyncpg.Connection, tmp_path: Path
) -> None:
    first = await generate_reports(reporting, results["completed"], tmp_path)
    second = await generate_reports(reporting, results["completed"], tmp_path)
    assert [r.id for r in first] == [r.id for r in second]
    count = await reporting.fetchval(
        "SELECT count(*) FROM reporting.performance_reports WHERE backtest_result_id = $1 AND file_path LIKE $2",
        results["completed"],
        f"{tmp_path}%",
    )
    assert count == 4


async def test_a_failed_backtest_gets_a_short_report_that_says_why(
    results: dict[str, uuid.UUID], reporting: asyncpg.Connection, tmp_path: Path
) -> None:
    reports = await generate_reports(reporting, results["failed"], tmp_path)
    assert [r.report_type for r in reports] == ["HTML"]
    html = Path(reports[0].file_path).read_text()
    assert "did not complete" in html
    assert "unknown instrument(s): NOPE.NASDAQ" in html
    assert "plotly-graph-div" not in html


async def test_a_result_not_finished_gets_no_report(
    migrated: Endpoints, reporting: asyncpg.Connection, tmp_path: Path
) -> None:
    """An event ahead of the run's end (a forged backtest.failed while the engine runs it) makes no report: the
    report would show an unfinished run, and its unit of work would turn away the run's own event."""
    job = _job()
    engine = await asyncpg.connect(role_url(migrated.database_url, "engine", "bts"))
    try:
        await engine_repository.claim_result(engine, job.backtest_id, job.configuration_id, job.user_id, {})
        for status in ("PENDING", "RUNNING"):
            if status == "RUNNING":
                await engine_repository.mark_running(engine, job.backtest_id, datetime.now(UTC), uuid.uuid4())
            with pytest.raises(ResultNotFinished, match=status):
                await generate_reports(reporting, job.backtest_id, tmp_path)
    finally:
        await engine.close()
    assert not (tmp_path / str(job.backtest_id)).exists()
    rows = "SELECT count(*) FROM reporting.performance_reports WHERE backtest_result_id = $1"
    assert await reporting.fetchval(rows, job.backtest_id) == 0


async def test_retention_removes_reports_older_than_90_days(
    migrated: Endpoints, results: dict[str, uuid.UUID], reporting: asyncpg.Connection, tmp_path: Path
) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    old = await generate_reports(reporting, results["failed"], tmp_path / "old", now=now - timedelta(days=91))
    young = await generate_reports(reporting, results["completed"], tmp_path / "young", now=now - timedelta(days=89))
    pool = await asyncpg.create_pool(role_url(migrated.database_url, "reporting", "bts"), min_size=1, max_size=1)
    try:  # the scheduled job, run once on a fake clock
        removed = await RetentionJob(pool, clock=lambda: now).run_once()
    finally:
        await pool.close()
    assert removed >= 1
    assert not Path(old[0].file_path).exists()
    assert await reporting.fetchval("SELECT count(*) FROM reporting.performance_reports WHERE id = $1", old[0].id) == 0
    for report in young:
        assert Path(report.file_path).exists()
