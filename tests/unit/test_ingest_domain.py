"""Pure ingest logic: layouts, timestamps, row checks, sessions, COPY encoding."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from services.ingest.domain.bar_checks import check_chunk
from services.ingest.domain.csv_layout import LayoutError, detect_layout
from services.ingest.domain.pgcopy import HEADER, PG_EPOCH_US, TRAILER, encode_rows
from services.ingest.domain.sessions import SessionTable
from services.ingest.domain.timestamps import DAILY_FORMATS, NAT, parse_timestamps
from shared.domain.calendars import UnknownExchangeError, calendar_code, calendar_for


@pytest.mark.parametrize(
    ("header", "volume_column"),
    [
        (["timestamp", "open", "high", "low", "close", "volume"], 5),
        (["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"], 6),
        (["date", "open", "high", "low", "close", "volume", "average", "barCount"], 5),
        (["\ufeffTimestamp", " OPEN ", "High", "Low", "Close", "Vol"], 5),
    ],
)
def test_known_layouts_are_recognised(header: list[str], volume_column: int) -> None:
    layout = detect_layout(header)
    assert layout.index("timestamp") == 0
    assert layout.index("volume") == volume_column


def test_wrong_columns_say_what_was_found_and_expected() -> None:
    with pytest.raises(LayoutError) as info:
        detect_layout(["Date", "Open", "High", "Low", "Close"])
    message = str(info.value)
    assert "missing column(s) volume" in message
    assert "found: Date, Open, High, Low, Close" in message
    assert "timestamp,open,high,low,close,volume" in message


def _ts(values: list[str], *, daily: bool = False, zone: str | None = None) -> list[object]:
    parsed = parse_timestamps(pa.array(values), daily=daily, naive_zone=zone)
    return [None if v == NAT else pd.Timestamp(v, tz="UTC") for v in parsed.ns]


def test_aware_iso_and_epoch_are_utc() -> None:
    expected = pd.Timestamp("2024-01-02 14:30", tz="UTC")
    assert _ts(["2024-01-02T14:30:00Z", "2024-01-02 09:30:00-05:00", "1704205800", "1704205800000"]) == [expected] * 4


def test_naive_time_is_an_error_unless_the_exchange_zone_is_asked_for() -> None:
    parsed = parse_timestamps(pa.array(["2024-01-02 09:30:00", "20240102 09:30:00"]), daily=False, naive_zone=None)
    assert not parsed.valid.any()
    assert "has no time zone" in parsed.errors[0]
    in_new_york = _ts(
        ["2024-01-02 09:30:00", "20240102 09:30:00", "20240102 09:30:00 US/Eastern"], zone="America/New_York"
    )
    assert in_new_york == [pd.Timestamp("2024-01-02 14:30", tz="UTC")] * 3


def test_a_local_time_that_does_not_exist_is_rejected() -> None:
    parsed = parse_timestamps(pa.array(["2024-03-10 02:30:00"]), daily=False, naive_zone="America/New_York")
    assert not parsed.valid[0]
    assert "does not exist" in parsed.errors[0]


def test_daily_bars_are_the_session_date_at_midnight_utc() -> None:
    assert (
        _ts(["2024-01-02", "20240102", "2024-01-02 16:00:00"], daily=True) == [pd.Timestamp("2024-01-02", tz="UTC")] * 3
    )
    parsed = parse_timestamps(pa.array(["2024-01-02", "garbage"]), daily=True, naive_zone=None)
    assert parsed.errors == {1: f"cannot read date 'garbage': accepted: {DAILY_FORMATS}"}


def test_intraday_bar_without_a_time_is_rejected() -> None:
    parsed = parse_timestamps(pa.array(["2024-01-02"]), daily=False, naive_zone="UTC")
    assert "needs a time of day" in parsed.errors[0]


def _check(rows: list[tuple[str, str, str, str, str]]) -> list[tuple[int, str]]:
    columns = {f: pa.array([r[i] for r in rows]) for i, f in enumerate(("open", "high", "low", "close", "volume"))}
    ns = np.zeros(len(rows), dtype=np.int64)
    checked = check_chunk(columns, ns, np.ones(len(rows), dtype=bool))
    return sorted((p.position, p.field) for p in checked.problems)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (("10", "9", "8", "9.5", "1"), "high"),  # high < open
        (("10", "11", "10.5", "10.8", "1"), "low"),  # low > open
        (("10", "11", "9", "10", "-1"), "volume"),
        (("10", "11", "9", "10", "1.5"), "volume"),
        (("abc", "11", "9", "10", "1"), "open"),
        (("0", "11", "0", "10", "1"), "open"),
        (("10", "nan", "9", "10", "1"), "high"),
    ],
)
def test_each_bar_rule_names_its_field(row: tuple[str, str, str, str, str], field: str) -> None:
    problems = _check([("10", "11", "9", "10.5", "100"), row])  # a good row, then the bad one
    assert (1, field) in problems
    assert {pos for pos, _ in problems} == {1}


def test_sessions_follow_the_exchange_calendar() -> None:
    nasdaq = SessionTable(calendar_for("NASDAQ"))
    days = pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-06"]).asi8  # trading day, holiday, Saturday
    assert nasdaq.daily_ok(days).tolist() == [True, False, False]
    minutes = pd.to_datetime(
        [
            "2024-01-02 14:30",
            "2024-01-02 20:59",
            "2024-01-02 21:00",
            "2024-01-02 14:29",
            "2024-11-29 17:59",
            "2024-11-29 18:00",
        ]  # the day after Thanksgiving closes at 13:00 New York
    ).asi8
    assert nasdaq.intraday_ok(minutes).tolist() == [True, True, False, False, True, False]


def test_unknown_exchange_is_a_clear_error() -> None:
    assert calendar_code("nasdaq") == "XNAS"
    with pytest.raises(UnknownExchangeError, match="exchange 'MOON' has no trading calendar; known exchanges: AEB"):
        calendar_code("MOON")


def test_binary_copy_rows_match_postgres_wire_format() -> None:
    ns = np.array([pd.Timestamp("2000-01-01 00:00:01", tz="UTC").value], dtype=np.int64)
    body = encode_rows(
        np.array([7]), ns, np.array([1.5]), np.array([2.0]), np.array([1.0]), np.array([1.75]), np.array([42])
    )
    fields = struct.unpack(">h i i i q i d i d i d i d i q", body)
    assert fields[0] == 7  # field count
    assert fields[2] == 7  # line
    assert fields[4] == 1_000_000  # microseconds since 2000-01-01
    assert fields[6::2][:4] == (1.5, 2.0, 1.0, 1.75)
    assert fields[-1] == 42
    assert HEADER.startswith(b"PGCOPY\n\xff\r\n\x00")
    assert TRAILER == b"\xff\xff"
    assert PG_EPOCH_US == 946_684_800_000_000
