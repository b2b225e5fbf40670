"""The import's quality report on the real database: a file out of time order (with a duplicate) gets the
report of the bars as stored, read back from staging in time order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pandas as pd
import pytest

from services.ingest.csv_import import ImportOutcome, ImportPlan, import_csv
from services.ingest.domain.sessions import SessionTable
from shared.domain.calendars import calendar_code, calendar_for

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures" / "quality"


async def _import(conn: asyncpg.Connection, path: Path, instrument: str) -> ImportOutcome:
    sessions = SessionTable(calendar_for("NYSE"), calendar_code("NYSE"))
    async with conn.transaction():
        return await import_csv(conn, ImportPlan(path, instrument, "BAR_DAILY", sessions, skip_invalid=True))


async def test_an_unsorted_file_gets_the_report_of_the_sorted_bars(
    tmp_path: Path, connect_as: Callable[[str], Awaitable[asyncpg.Connection]]
) -> None:
    frame = pd.read_csv(FIXTURES / "stale_tail_2023.csv")
    shuffled = pd.concat([frame.sample(frac=1, random_state=3), frame.iloc[[5]]])  # and one duplicate date
    path = tmp_path / "shuffled.csv"
    shuffled.to_csv(path, index=False)
    conn = await connect_as("ingest")
    try:
        in_order = await _import(conn, FIXTURES / "stale_tail_2023.csv", "QSORT.NYSE")
        out_of_order = await _import(conn, path, "QSHUF.NYSE")
    finally:
        await conn.close()
    assert out_of_order.rows_loaded == len(frame)
    assert out_of_order.rows_rejected == 1  # the duplicate
    assert in_order.quality.counts == {"STALE": 2}
    assert out_of_order.quality == in_order.quality
