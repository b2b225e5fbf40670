"""CSV import on the real database: exact read-back, strictness, skip_invalid accounting, idempotency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import asyncpg
import numpy as np
import pandas as pd
import pytest

from services.ingest.csv_import import ImportPlan, StrictImportFailed, import_csv
from services.ingest.csv_source import CsvFileError
from services.ingest.domain.sessions import SessionTable
from shared.domain.calendars import calendar_code, calendar_for

pytestmark = pytest.mark.integration

ConnectAs = Callable[[str], Awaitable[asyncpg.Connection]]


def daily_frame(symbol_seed: int, start: str = "2019-01-01", end: str = "2024-12-31") -> pd.DataFrame:
    sessions = calendar_for("NASDAQ").sessions_in_range(start, end)
    rng = np.random.default_rng(symbol_seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(sessions)))), 2)
    open_ = np.round(close * (1 + rng.normal(0, 0.003, len(sessions))), 2)
    return pd.DataFrame(
        {
            "Date": sessions.strftime("%Y-%m-%d"),
            "Open": open_,
            "High": np.round(np.maximum(open_, close) + 0.37, 2),
            "Low": np.round(np.minimum(open_, close) - 0.41, 2),
            "Close": close,
            "Adj Close": close,
            "Volume": rng.integers(1_000, 1_000_000, len(sessions)),
        }
    )


async def _import(conn: asyncpg.Connection, path: Path, instrument: str, timeframe: str, **kw: bool) -> object:
    exchange = instrument.split(".")[-1]
    plan = ImportPlan(path, instrument, timeframe, SessionTable(calendar_for(exchange), calendar_code(exchange)), **kw)
    async with conn.transaction():
        return await import_csv(conn, plan)


async def _read_back(conn: asyncpg.Connection, instrument: str, timeframe: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        'SELECT "timestamp", open, high, low, close, volume FROM ingest.market_data '
        'WHERE instrument_id = $1 AND timeframe = $2 ORDER BY "timestamp"',
        instrument,
        timeframe,
    )


async def test_six_years_of_daily_bars_for_three_symbols_read_back_exactly(
    tmp_path: Path, connect_as: ConnectAs
) -> None:
    conn = await connect_as("ingest")
    try:
        for seed, symbol in enumerate(("AAA", "BBB", "CCC")):
            frame = daily_frame(seed)
            path = tmp_path / f"{symbol}.csv"
            frame.to_csv(path, index=False)
            outcome = await _import(conn, path, f"{symbol}.NASDAQ", "BAR_DAILY")
            assert outcome.rows_total == len(frame) == 1510  # type: ignore[attr-defined]
            assert outcome.rows_loaded == outcome.inserted == len(frame)  # type: ignore[attr-defined]
            rows = await _read_back(conn, f"{symbol}.NASDAQ", "BAR_DAILY")
            assert [r["timestamp"].strftime("%Y-%m-%d") for r in rows] == frame["Date"].tolist()
            assert all(r["timestamp"].hour == 0 for r in rows)
            assert [r["close"] for r in rows] == [Decimal(f"{v:.2f}") for v in frame["Close"]]
            assert [r["high"] for r in rows] == [Decimal(f"{v:.2f}") for v in frame["High"]]
            assert [r["volume"] for r in rows] == frame["Volume"].tolist()
    finally:
        await conn.close()


async def test_a_month_of_minute_bars_loads_and_reimport_is_idempotent(tmp_path: Path, connect_as: ConnectAs) -> None:
    sessions = calendar_for("NASDAQ").sessions_in_range("2024-03-01", "2024-03-31")
    calendar = calendar_for("NASDAQ")
    minutes = pd.DatetimeIndex(
        np.concatenate(
            [
                pd.date_range(calendar.session_open(s), calendar.session_close(s), freq="min", inclusive="left").asi8
                for s in sessions
            ]
        ),
        tz="UTC",
    )
    rng = np.random.default_rng(3)
    price = np.round(170 + np.cumsum(rng.normal(0, 0.02, len(minutes))), 4)
    frame = pd.DataFrame(
        {
            "timestamp": minutes.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "open": price,
            "high": np.round(price + 0.05, 4),
            "low": np.round(price - 0.05, 4),
            "close": price,
            "volume": rng.integers(0, 5000, len(minutes)),
        }
    )
    path = tmp_path / "aapl-march.csv"
    frame.to_csv(path, index=False)
    conn = await connect_as("ingest")
    try:
        first = await _import(conn, path, "MIN.NASDAQ", "BAR_1MIN")
        assert first.inserted == len(frame) == 20 * 390  # type: ignore[attr-defined]  (Good Friday: closed)
        again = await _import(conn, path, "MIN.NASDAQ", "BAR_1MIN")
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(frame))  # type: ignore[attr-defined]
        changed = frame.copy()
        changed.loc[10, "close"] = changed.loc[10, "high"]
        changed.to_csv(path, index=False)
        third = await _import(conn, path, "MIN.NASDAQ", "BAR_1MIN")
        assert (third.inserted, third.updated) == (0, 1)  # type: ignore[attr-defined]
        rows = await _read_back(conn, "MIN.NASDAQ", "BAR_1MIN")
        assert len(rows) == len(frame)
        assert rows[10]["close"] == Decimal(str(changed.loc[10, "close"]))
        assert rows[0]["timestamp"] == pd.Timestamp("2024-03-01 14:30", tz="UTC")
    finally:
        await conn.close()


BAD_FILE = """timestamp,open,high,low,close,volume
2024-01-02,10,11,9,10.5,100
2024-01-03,10,9,9,10.5,100
2024-01-04,10,11,9,10.5,-5
2024-01-06,10,11,9,10.5,100
2024-01-05,10,11,9,10.5
2024-01-05,10,11,9,10.5,100
2024-01-08,abc,11,9,10.5,100
2024-01-09,10,11,9,10.5,100
2024-01-09,10,11,9,10.5,200
"""


async def test_strict_import_writes_nothing_and_reports_every_bad_row(tmp_path: Path, connect_as: ConnectAs) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_FILE)
    conn = await connect_as("ingest")
    try:
        with pytest.raises(StrictImportFailed) as info:
            await _import(conn, path, "BAD.NASDAQ", "BAR_DAILY")
        errors = [(e.line, e.field) for e in info.value.outcome.errors]
        assert errors == [(3, "high"), (4, "volume"), (5, "timestamp"), (6, "row"), (8, "open"), (10, "timestamp")]
        assert info.value.outcome.errors[2].message == "2024-01-06 is not a trading day of XNAS"
        assert "line 9 has it too" in info.value.outcome.errors[5].message
        assert await _read_back(conn, "BAD.NASDAQ", "BAR_DAILY") == []
    finally:
        await conn.close()


async def test_skip_invalid_loads_the_rest_and_loses_nothing(tmp_path: Path, connect_as: ConnectAs) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_FILE)
    conn = await connect_as("ingest")
    try:
        outcome = await _import(conn, path, "SKIP.NASDAQ", "BAR_DAILY", skip_invalid=True)
        assert outcome.rows_total == 9  # type: ignore[attr-defined]
        assert (outcome.rows_loaded, outcome.rows_rejected) == (3, 6)  # type: ignore[attr-defined]
        assert outcome.rows_loaded + outcome.rows_rejected == outcome.rows_total  # type: ignore[attr-defined]
        rows = await _read_back(conn, "SKIP.NASDAQ", "BAR_DAILY")
        assert [r["timestamp"].day for r in rows] == [2, 5, 9]
        assert rows[-1]["volume"] == 100  # the first of the duplicates is kept
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("", "is empty"),
        ("Date,Open,High,Low,Close\n2024-01-02,1,1,1,1\n", "missing column(s) volume"),
        (b"\xff\xfe\x00garbage", "is not UTF-8 text"),
    ],
)
async def test_unreadable_files_are_clear_errors(
    tmp_path: Path, connect_as: ConnectAs, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "input.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    conn = await connect_as("ingest")
    try:
        with pytest.raises(CsvFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
            await _import(conn, path, "ERR.NASDAQ", "BAR_DAILY")
    finally:
        await conn.close()
