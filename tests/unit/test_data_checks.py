"""Run-time data checks (coverage, gaps, suspected splits), the split ratios, and the benchmark resolution:
pure logic on small real-shaped fixtures (XNYS sessions of 2020-2024)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from services.engine.bars import session_dates
from services.engine.domain.data_checks import (
    MAX_LISTED,
    CheckedSeries,
    coverage_warnings,
    data_warnings,
    gap_warnings,
    session_prices,
    split_warnings,
)
from shared.domain.benchmark import DEFAULT_BENCHMARK, BenchmarkCandidate, resolve_benchmark
from shared.domain.calendars import calendar_for
from shared.domain.quality import SPLIT_TOLERANCE, split_match

XNYS = calendar_for("NYSE")


def _sessions(start: str, end: str) -> pd.DatetimeIndex:
    sessions = pd.DatetimeIndex(XNYS.sessions)
    return sessions[(sessions >= pd.Timestamp(start)) & (sessions <= pd.Timestamp(end))]


def _prices(sessions: pd.DatetimeIndex, seed: int = 7, start: float = 330.0) -> pd.DataFrame:
    """Daily opens and closes that move at most ~3% a session (an ETF-like walk)."""
    rng = np.random.default_rng(seed)
    close = np.round(start * np.exp(np.cumsum(rng.normal(0.0003, 0.008, len(sessions)))), 2)
    open_ = np.round(np.r_[start, close[:-1]] * (1 + rng.normal(0, 0.002, len(sessions))), 2)
    return pd.DataFrame({"open": open_, "close": close}, index=sessions)


# -- the split ratios (shared.domain.quality) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "label"),
    [
        (500.0, 250.0, "2:1"),
        (300.0, 100.0, "3:1"),
        (150.0, 100.0, "3:2"),
        (400.0, 100.0, "4:1"),
        (2213.40, 444.61, "5:1"),
        (1000.0, 100.0, "10:1"),
        (2000.0, 100.0, "20:1"),
        (10.0, 20.0, "1:2"),
        (5.0, 50.0, "1:10"),
        (100.0, 150.0, "2:3"),
        (100.0, 97.5 / 2, "2:1"),
    ],
)
def test_a_move_by_a_split_ratio_matches_it(before: float, after: float, label: str) -> None:
    match = split_match(before, after)
    assert match is not None
    assert match.label == label


@pytest.mark.parametrize(("before", "after"), [(100.0, 99.0), (100.0, 60.0), (100.0, 45.0), (100.0, 0.0)])
def test_ordinary_moves_do_not_match(before: float, after: float) -> None:
    assert split_match(before, after) is None


def test_the_tolerance_bounds_the_match() -> None:
    assert split_match(100.0, 100.0 / (2 * (1 + SPLIT_TOLERANCE * 0.9))) == split_match(100.0, 50.0)
    assert split_match(100.0, 100.0 / (2 * (1 + SPLIT_TOLERANCE * 1.5))) is None
    assert split_match(100.0, 50.0).ratio == Fraction(2)  # type: ignore[union-attr]


# -- coverage -----------------------------------------------------------------------------------------------------


def test_a_stale_tail_ending_a_year_early_is_named_with_its_dates() -> None:
    period = _sessions("2023-01-03", "2024-12-31")
    prices = _prices(_sessions("2023-01-03", "2023-12-29"))
    found = coverage_warnings("TSLA.NASDAQ", prices, period, date(2023, 1, 1), date(2024, 12, 31))
    assert len(found) == 1
    assert found[0].startswith("COVERAGE TSLA.NASDAQ: data ends 2023-12-29, before end_date 2024-12-31")
    assert "last session 2024-12-31" in found[0]
    assert f"last known close ({prices['close'].iloc[-1]:g} on 2023-12-29)" in found[0]


def test_data_starting_late_is_named_and_full_coverage_is_quiet() -> None:
    period = _sessions("2020-01-02", "2020-12-31")
    late = coverage_warnings(
        "X.NYSE", _prices(_sessions("2020-03-02", "2020-12-31")), period, date(2020, 1, 1), date(2020, 12, 31)
    )
    assert late == [
        "COVERAGE X.NYSE: data starts 2020-03-02, after start_date 2020-01-01 (first session 2020-01-02); "
        "the run has none of its bars before then"
    ]
    # a start_date on a holiday (2020-01-01) is not late data: the first session is 2020-01-02
    assert coverage_warnings("X.NYSE", _prices(period), period, date(2020, 1, 1), date(2020, 12, 31)) == []


# -- gaps ---------------------------------------------------------------------------------------------------------


def test_a_five_session_hole_is_one_range() -> None:
    period = _sessions("2020-06-01", "2020-12-31")
    hole = _sessions("2020-10-12", "2020-10-16")
    found = gap_warnings("SPY.ARCA", _prices(period.difference(hole)), period, "XNYS")
    assert found == ["GAP SPY.ARCA: 5 session(s) of XNYS without a bar, in 1 range(s): 2020-10-12..2020-10-16"]


def test_a_holiday_is_not_a_gap_and_does_not_split_a_range() -> None:
    period = _sessions("2020-11-01", "2020-12-31")
    # 2020-11-26 (Thanksgiving) is no session: 11-25 and 11-27 missing are one range of two sessions
    hole = pd.DatetimeIndex(["2020-11-25", "2020-11-27"])
    found = gap_warnings("SPY.ARCA", _prices(period.difference(hole)), period, "XNYS")
    assert found == ["GAP SPY.ARCA: 2 session(s) of XNYS without a bar, in 1 range(s): 2020-11-25..2020-11-27"]
    assert gap_warnings("SPY.ARCA", _prices(period), period, "XNYS") == []


def test_many_gaps_are_capped_with_the_total() -> None:
    period = _sessions("2020-01-02", "2020-12-31")
    holes = period[10:200:20]  # ten single missing sessions
    found = gap_warnings("SPY.ARCA", _prices(period.difference(holes)), period, "XNYS")
    assert len(found) == 1
    assert "10 session(s) of XNYS without a bar, in 10 range(s)" in found[0]
    assert found[0].endswith(f"and {10 - MAX_LISTED} more")
    assert found[0].count("2020-") == MAX_LISTED


# -- suspected splits --------------------------------------------------------------------------------------------


def test_a_two_for_one_split_in_raw_prices_is_suspect() -> None:
    sessions = _sessions("2020-07-01", "2020-09-30")
    prices = _prices(sessions, start=400.0)
    split_day = pd.Timestamp("2020-08-31")
    prices.loc[prices.index >= split_day, ["open", "close"]] /= 2  # raw (unadjusted) prices across a 2:1 split
    found = split_warnings("AAPL.NASDAQ", prices)
    assert len(found) == 1
    assert found[0].startswith(
        "SPLIT_SUSPECT AAPL.NASDAQ: 1 move(s) match a split ratio, no corporate action on "
        "record: 2020-08-31 (2:1: close "
    )
    assert split_warnings("AAPL.NASDAQ", _prices(sessions, start=400.0)) == []


def test_a_split_diluted_by_the_day_s_trading_is_seen_at_the_open() -> None:
    # TSLA 2020-08-31 (5:1), raw: close 2213.40, then open 444.61 and close 498.32 (+12% on the day)
    prices = pd.DataFrame(
        {"open": [2100.0, 444.61], "close": [2213.40, 498.32]}, index=pd.DatetimeIndex(["2020-08-28", "2020-08-31"])
    )
    found = split_warnings("TSLA.NASDAQ", prices)
    assert found
    assert "2020-08-31 (5:1: close 2213.4 -> open 444.61, close 498.32)" in found[0]


def test_session_prices_take_the_first_open_and_last_close_of_a_session() -> None:
    stamps = pd.DatetimeIndex(
        ["2020-03-02 15:30", "2020-03-02 21:00", "2020-03-03 15:30", "2020-03-03 21:00"], tz="UTC"
    )
    frame = pd.DataFrame({"open": [1.0, 2.0, 3.0, 4.0], "close": [1.5, 2.5, 3.5, 4.5]}, index=stamps)
    prices = session_prices(frame, session_dates(stamps))
    assert prices.to_dict("list") == {"open": [1.0, 3.0], "close": [2.5, 4.5]}
    assert list(prices.index) == [pd.Timestamp("2020-03-02"), pd.Timestamp("2020-03-03")]


def test_data_warnings_report_every_kind_for_one_instrument() -> None:
    period = _sessions("2020-01-02", "2020-12-31")
    prices = _prices(period[:230].difference(_sessions("2020-10-12", "2020-10-16")))
    prices.loc[prices.index >= pd.Timestamp("2020-06-01"), ["open", "close"]] /= 3
    found = data_warnings(CheckedSeries("X.NYSE", prices, period, "XNYS"), date(2020, 1, 1), date(2020, 12, 31))
    assert [w.split()[0] for w in found] == ["COVERAGE", "GAP", "SPLIT_SUSPECT"]


# -- the benchmark: an instrument id, or the one listing of a symbol with data ---------------------------------


def _spy(arca: int, nysearca: int) -> list[BenchmarkCandidate]:
    return [BenchmarkCandidate("SPY.ARCA", "SPY", arca), BenchmarkCandidate("SPY.NYSEARCA", "SPY", nysearca)]


def test_two_spy_listings_with_data_are_ambiguous_and_named() -> None:
    choice = resolve_benchmark("SPY", _spy(252, 252))
    assert choice.instrument_id is None
    assert choice.problem == (
        "ambiguous: 2 instruments with symbol SPY have daily bars in the period "
        "(SPY.ARCA, SPY.NYSEARCA); name one by its instrument id"
    )
    assert not choice.tolerated  # not even for the default: it would pick one silently


def test_an_instrument_id_picks_one_listing() -> None:
    assert resolve_benchmark("SPY.NYSEARCA", _spy(252, 252)).instrument_id == "SPY.NYSEARCA"
    no_data = resolve_benchmark("SPY.NYSEARCA", _spy(252, 0))
    assert (no_data.instrument_id, no_data.problem) == (
        None,
        "SPY.NYSEARCA has 0 daily bar(s) in the period; at least 2 are needed",
    )


def test_the_one_listing_with_data_is_the_benchmark() -> None:
    assert resolve_benchmark("SPY", _spy(0, 252)).instrument_id == "SPY.NYSEARCA"
    assert resolve_benchmark("SPY", [BenchmarkCandidate("SPY.ARCA", "SPY", 252)]).instrument_id == "SPY.ARCA"


def test_no_data_or_no_instrument_is_an_error_except_for_the_default() -> None:
    none = resolve_benchmark("SPY", _spy(1, 0))
    assert (
        none.problem == "none of the instruments with symbol SPY (SPY.ARCA, SPY.NYSEARCA) has daily bars in the period"
    )
    assert none.tolerated
    assert DEFAULT_BENCHMARK == "SPY"
    unknown = resolve_benchmark("DIA", [])
    assert unknown.problem == "no instrument has the id or symbol DIA (register it: POST /instruments)"
    assert not unknown.tolerated


def test_a_split_on_record_explains_its_move() -> None:
    sessions = pd.DatetimeIndex(pd.bdate_range("2022-07-11", "2022-07-22"))
    close = [100.0] * 5 + [50.0] * 5  # a 2:1 split on 2022-07-18, raw prices
    prices = pd.DataFrame({"open": close, "close": close}, index=sessions)
    assert split_warnings("X.NYSE", prices)  # no action on record: suspect
    assert split_warnings("X.NYSE", prices, frozenset({date(2022, 7, 18)})) == []  # the split explains it
