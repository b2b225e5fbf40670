"""Run-time checks of a backtest's bars against its period and the exchange calendar (pure).

Each finding is a short warning on the result: where the data starts late or ends early (positions are
then marked at the last known close), sessions of the calendar without a bar (as date ranges), and
session-to-session moves that match a split ratio (shared.domain.quality) with no corporate action on record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import pandas as pd

from shared.domain.quality import session_gaps, split_matches

# Listed per warning at most; the rest are counted ("and N more").
MAX_LISTED: Final = 5


def session_prices(frame: pd.DataFrame, sessions: pd.DatetimeIndex) -> pd.DataFrame:
    """One row per session that has bars: its first open and last close (`sessions`: each bar's session)."""
    grouped = frame[["open", "close"]].groupby(sessions.to_numpy())
    out = pd.DataFrame({"open": grouped["open"].first(), "close": grouped["close"].last()})
    out.index = pd.DatetimeIndex(out.index)
    return out


def _day(value: pd.Timestamp | date) -> str:
    return f"{value:%Y-%m-%d}"


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def coverage_warnings(
    instrument_id: str, prices: pd.DataFrame, sessions: pd.DatetimeIndex, start: date, end: date
) -> list[str]:
    """Data that starts after the period's first session or ends before its last."""
    if prices.empty or sessions.empty:
        return []
    first, last = prices.index[0], prices.index[-1]
    found: list[str] = []
    if first > sessions[0]:
        found.append(
            f"COVERAGE {instrument_id}: data starts {_day(first)}, after start_date {start} (first session "
            f"{_day(sessions[0])}); the run has none of its bars before then"
        )
    if last < sessions[-1]:
        found.append(
            f"COVERAGE {instrument_id}: data ends {_day(last)}, before end_date {end} (last session "
            f"{_day(sessions[-1])}); a position in it was marked at its last known close "
            f"({prices['close'].iloc[-1]:g} on {_day(last)}) after that"
        )
    return found


def gap_warnings(instrument_id: str, prices: pd.DataFrame, sessions: pd.DatetimeIndex, calendar: str) -> list[str]:
    """Sessions of the calendar between the first and last bar that have no bar."""
    if prices.empty:
        return []
    inside = sessions[(sessions >= prices.index[0]) & (sessions <= prices.index[-1])]
    gaps = session_gaps(list(inside.date), set(prices.index.date))
    if not gaps.missing:
        return []
    runs = [_day(a) if a == b else f"{_day(a)}..{_day(b)}" for a, b in gaps.ranges]
    return [
        f"GAP {instrument_id}: {gaps.missing} session(s) of {calendar} without a bar, in {len(runs)} range(s): "
        f"{_listed(runs)}"
    ]


def split_warnings(instrument_id: str, prices: pd.DataFrame, split_dates: frozenset[date] = frozenset()) -> list[str]:
    """Moves from one session's close to the next session's open or close that match a split ratio, except on
    the ex-dates of splits on record (`split_dates`: those moves are explained)."""
    suspects: list[str] = []
    opens, closes = (prices[column].to_numpy(dtype=np.float64) for column in ("open", "close"))
    on_open, on_close = split_matches(closes[:-1], opens[1:]), split_matches(closes[:-1], closes[1:])
    # Only the matched moves are visited: boxing every session's date costs more than the checks themselves.
    matched = [(i, match) for i, (a, b) in enumerate(zip(on_open, on_close, strict=True)) if (match := a or b)]
    for i, match in matched:
        day = prices.index[i + 1]
        if pd.Timestamp(day).date() in split_dates:
            continue
        before, opened, closed = closes[i], opens[i + 1], closes[i + 1]
        suspects.append(f"{_day(day)} ({match.label}: close {before:g} -> open {opened:g}, close {closed:g})")
    if not suspects:
        return []
    return [
        f"SPLIT_SUSPECT {instrument_id}: {len(suspects)} move(s) match a split ratio, no corporate action on "
        f"record: {_listed(suspects)}"
    ]


@dataclass(frozen=True)
class CheckedSeries:
    """One instrument's bars as the checks see them: `prices` from session_prices, `sessions` the calendar's
    sessions of the period (naive dates), `split_dates` the ex-dates of its splits on record."""

    instrument_id: str
    prices: pd.DataFrame
    sessions: pd.DatetimeIndex
    calendar: str
    split_dates: frozenset[date] = frozenset()


def data_warnings(series: CheckedSeries, start: date, end: date) -> list[str]:
    """Every check for one instrument over the period `start`..`end`."""
    iid, prices, sessions = series.instrument_id, series.prices, series.sessions
    return (
        coverage_warnings(iid, prices, sessions, start, end)
        + gap_warnings(iid, prices, sessions, series.calendar)
        + split_warnings(iid, prices, series.split_dates)
    )
