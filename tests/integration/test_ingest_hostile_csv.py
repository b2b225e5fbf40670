"""Hostile CSV rows on the real database: with skip_invalid, a volume beyond bigint, a price beyond what a
price holds and an overlong line are rejected rows (line, field, what was expected) and the rest loads;
strict, the same file fails naming each of them and writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from services.ingest.csv_import import ImportOutcome, ImportPlan, StrictImportFailed, import_csv
from services.ingest.csv_source import MAX_LINE_BYTES
from services.ingest.domain.sessions import SessionTable
from shared.domain.calendars import calendar_for

pytestmark = pytest.mark.integration

ConnectAs = Callable[[str], Awaitable[asyncpg.Connection]]
ROWS = [
    "2024-01-02,10,11,9,10.5,100",
    "2024-01-03,10,11,9,10.5,1e23",  # beyond bigint: the database's CheckViolation used to sink the file
    "2024-01-04," + "9" * (2 * MAX_LINE_BYTES) + ",11,9,10.5,100",  # one overlong line
    "2024-01-05,10,1e300,9,10.5,100",
    "2024-01-08,10,11,9,10.5,100",
]


def _write(path: Path) -> Path:
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(ROWS) + "\n")
    return path


async def _import(conn: asyncpg.Connection, path: Path, instrument: str, skip_invalid: bool) -> ImportOutcome:
    plan = ImportPlan(path, instrument, "BAR_DAILY", SessionTable(calendar_for("NASDAQ")), skip_invalid)
    async with conn.transaction():
        return await import_csv(conn, plan)


async def test_skip_invalid_rejects_each_hostile_row_and_loads_the_rest(tmp_path: Path, connect_as: ConnectAs) -> None:
    conn = await connect_as("ingest")
    try:
        outcome = await _import(conn, _write(tmp_path / "hostile.csv"), "HOSTILE.NASDAQ", skip_invalid=True)
        assert (outcome.rows_total, outcome.rows_loaded, outcome.rows_rejected) == (5, 2, 3)
        assert [(e.line, e.field) for e in outcome.errors] == [(3, "volume"), (4, "row"), (5, "high")]
        assert "at most" in outcome.errors[1].message
        stored = await conn.fetchval("SELECT count(*) FROM ingest.market_data WHERE instrument_id = 'HOSTILE.NASDAQ'")
        assert stored == 2
    finally:
        await conn.close()


async def test_strict_import_fails_naming_every_hostile_row(tmp_path: Path, connect_as: ConnectAs) -> None:
    conn = await connect_as("ingest")
    try:
        with pytest.raises(StrictImportFailed) as failed:
            await _import(conn, _write(tmp_path / "strict.csv"), "HOSTSTR.NASDAQ", skip_invalid=False)
        assert [e.line for e in failed.value.outcome.errors] == [3, 4, 5]
        stored = await conn.fetchval("SELECT count(*) FROM ingest.market_data WHERE instrument_id = 'HOSTSTR.NASDAQ'")
        assert stored == 0
    finally:
        await conn.close()
