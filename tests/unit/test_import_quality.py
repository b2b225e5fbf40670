"""The import's data-quality checks and trading-time reasons on small real-shaped files (pure: no database)."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from services.ingest.domain.quality_report import LoadedBars, QualityReport, QualityScan, quality_report
from services.ingest.domain.sessions import SessionTable, in_range, outside_range_reason
from services.ingest.domain.timestamps import parse_timestamps
from shared.contracts.text_bounds import MAX_IMPORT_WARNINGS_PER_KIND, MAX_ROW_MESSAGE_CHARS
from shared.domain.calendars import calendar_for
from shared.domain.quality import STALE_MIN_SESSIONS, split_match, split_matches

FIXTURES = Path(__file__).parent.parent / "fixtures" / "quality"
NYSE = SessionTable(calendar_for("NYSE"))


def _bars(frame: pd.DataFrame, stamps: pd.DatetimeIndex) -> LoadedBars:
    prices = [frame[c].to_numpy(dtype=np.float64) for c in ("Open", "High", "Low", "Close")]
    return LoadedBars(stamps.asi8.astype(np.int64), *prices, frame["Volume"].to_numpy(dtype=np.int64))


def _daily(name: str) -> QualityReport:
    frame = pd.read_csv(FIXTURES / name)
    return quality_report(_bars(frame, pd.DatetimeIndex(pd.to_datetime(frame["Date"]))), NYSE, daily=True)


def _summary(report: QualityReport) -> list[tuple[str, date, date, str]]:
    return [(f.kind.value, f.start, f.end, f.detail) for f in report.findings]


def test_a_five_session_hole_is_one_gap_range() -> None:
    report = _daily("spy_gap_2020.csv")
    assert _summary(report) == [
        ("GAP", date(2020, 10, 12), date(2020, 10, 16), "5 session(s) of XNYS without a bar"),
    ]
    assert report.counts == {"GAP": 1}


def test_a_two_for_one_split_in_raw_prices_is_suspect() -> None:
    report = _daily("split_2to1_2022.csv")
    assert [(kind, start) for kind, start, _, _ in _summary(report)] == [("SPLIT_SUSPECT", date(2022, 7, 18))]
    assert report.findings[0].detail.startswith("2:1: close ")
    assert "no corporate action on record" in report.findings[0].detail


def test_a_split_on_record_explains_its_move() -> None:
    frame = pd.read_csv(FIXTURES / "split_2to1_2022.csv")
    scan = QualityScan(NYSE, daily=True, split_dates=frozenset({date(2022, 7, 18)}))
    scan.add(_bars(frame, pd.DatetimeIndex(pd.to_datetime(frame["Date"]))))
    assert scan.report().counts.get("SPLIT_SUSPECT") is None


def test_a_stale_tail_is_flagged_once_for_its_prices_and_once_for_its_volume() -> None:
    report = _daily("stale_tail_2023.csv")
    found = _summary(report)
    assert [(kind, start, end) for kind, start, end, _ in found] == [
        ("STALE", date(2023, 12, 19), date(2023, 12, 29)),  # the last good bar, then 7 copies of it
        ("STALE", date(2023, 12, 20), date(2023, 12, 29)),  # 7 sessions of zero volume
    ]
    assert found[0][3].startswith("identical OHLC (close ")
    assert found[0][3].endswith("in 8 bar(s) over 8 sessions")
    assert found[1][3] == "zero volume in 7 bar(s) over 7 sessions"


def test_clean_data_has_no_findings_and_short_repeats_are_not_stale() -> None:
    frame = pd.read_csv(FIXTURES / "spy_gap_2020.csv").iloc[:20].copy()  # before the hole
    frame.loc[frame.index[-(STALE_MIN_SESSIONS - 1) :], "Volume"] = 0  # one session short of stale
    report = quality_report(_bars(frame, pd.DatetimeIndex(pd.to_datetime(frame["Date"]))), NYSE, daily=True)
    assert report.findings == []
    assert report.counts == {}


def test_hourly_bars_find_the_gap_between_sessions_not_inside_them() -> None:
    frame = pd.read_csv(FIXTURES / "msft_hourly_2024.csv")
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["Datetime"], utc=True)).tz_localize(None)
    regular = NYSE.intraday_ok(stamps.asi8)
    frame, stamps = frame[regular].copy(), stamps[regular]
    assert quality_report(_bars(frame, stamps), NYSE, daily=False).findings == []
    wednesday = ~frame["Datetime"].str.startswith("2024-03-06").to_numpy()
    report = quality_report(_bars(frame[wednesday], stamps[wednesday]), NYSE, daily=False)
    assert _summary(report) == [("GAP", date(2024, 3, 6), date(2024, 3, 6), "1 session(s) of XNYS without a bar")]


def test_findings_are_listed_up_to_the_cap_and_all_counted() -> None:
    sessions = calendar_for("NYSE").sessions_in_range("2021-01-04", "2021-12-31")
    kept = sessions[::2]  # every other session: a one-session gap between each pair
    frame = pd.DataFrame({c: 100.0 + np.arange(len(kept)) for c in ("Open", "High", "Low", "Close")})
    frame["Volume"] = 1000
    report = quality_report(_bars(frame, pd.DatetimeIndex(kept)), NYSE, daily=True)
    assert report.counts == {"GAP": len(kept) - 1}
    assert len(report.findings) == MAX_IMPORT_WARNINGS_PER_KIND


def test_split_matches_agree_with_the_single_move_rule() -> None:
    before = np.array([100.0, 100.0, 100.0, 100.0, 0.0, 100.0])
    after = np.array([50.0, 201.0, 66.9, 95.0, 50.0, 4.9])
    labels = [m.label if m else None for m in split_matches(before, after)]
    assert labels == ["2:1", "1:2", "3:2", None, None, "20:1"]
    assert [split_match(b, a) for b, a in zip(before, after, strict=True)] == split_matches(before, after)


@pytest.mark.parametrize(
    ("utc", "daily", "reason"),
    [
        ("2024-03-05 13:00", False, "pre-market: 08:00 is before the 09:30 open (America/New_York, 2024-03-05)"),
        ("2024-03-08 21:00", False, "post-market: 16:00 is at or after the 16:00 close (America/New_York, 2024-03-08)"),
        ("2024-03-09 15:00", False, "2024-03-09 is not a trading day of XNYS"),
        ("2024-01-01 00:00", True, "2024-01-01 is not a trading day of XNYS"),
    ],
)
def test_outside_trading_time_says_why(utc: str, daily: bool, reason: str) -> None:
    assert NYSE.outside_reason(pd.Timestamp(utc).value, daily) == reason


def test_the_last_partial_hour_of_a_session_is_inside_it() -> None:
    stamps = pd.to_datetime(["2024-03-04 20:30", "2024-03-04 21:00", "2024-11-29 17:30", "2024-11-29 18:00"])
    assert NYSE.intraday_ok(stamps.asi8).tolist() == [True, False, True, False]  # 15:30 ok; 13:00 early close


def test_rows_outside_the_data_range_are_refused_with_the_range() -> None:
    stamps = pd.to_datetime(["2018-12-31 23:59", "2019-01-01 00:00", "2024-12-31 21:00", "2025-01-01 00:00"]).asi8
    assert in_range(stamps).tolist() == [False, True, True, False]
    assert outside_range_reason("2025-01-02") == "2025-01-02 is outside the data range 2019-01-01..2024-12-31"


def test_an_unreadable_timestamp_names_the_formats_accepted() -> None:
    parsed = parse_timestamps(pa.array(["2024-01-02T14:30:00Z", "02/01/2024 14:30"]), daily=False, naive_zone=None)
    message = parsed.errors[1]
    assert message.startswith("cannot read timestamp '02/01/2024 14:30': accepted: ISO 8601 with an offset")
    assert "epoch seconds/ms" in message
    assert "TWS (20240102 09:30:00 US/Eastern)" in message
    assert len(message) <= MAX_ROW_MESSAGE_CHARS


def _sliced(bars: LoadedBars, cuts: list[int]) -> list[LoadedBars]:
    edges = [0, *cuts, len(bars.ns)]
    fields = (bars.ns, bars.open, bars.high, bars.low, bars.close, bars.volume)
    return [LoadedBars(*(f[a:b] for f in fields)) for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize("cuts", [[1], [55], [56], [57], [58], [60], [10, 56, 57, 58, 62]])
def test_batches_give_the_report_of_the_whole_file_wherever_they_are_cut(cuts: list[int]) -> None:
    frame = pd.concat([pd.read_csv(FIXTURES / "stale_tail_2023.csv"), pd.read_csv(FIXTURES / "split_2to1_2022.csv")])
    frame = frame.sort_values("Date").reset_index(drop=True)  # 2022 split, then the 2023 stale tail
    whole = _bars(frame, pd.DatetimeIndex(pd.to_datetime(frame["Date"])))
    scan = QualityScan(NYSE, daily=True)
    for part in _sliced(whole, [c + 43 for c in cuts]):  # the 2023 rows start at position 43
        scan.add(part)
    assert scan.report() == quality_report(whole, NYSE, daily=True)
    # the 2:1 split, and 2022-08-31 -> 2023-10-02 (about 100 -> 50) is a 2:1-like move too
    assert scan.report().counts == {"GAP": 1, "SPLIT_SUSPECT": 2, "STALE": 2}
