"""Is a bar inside its exchange's trading time? Daily: a session date. Intraday: it opens inside a session.

Uses the exchange calendar (holidays, early closes), vectorised with searchsorted over sessions. Every
bar is first checked against the platform's data range (the dates a backtest may use).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.contracts.models.backtest import EARLIEST, LATEST

DAY_NS: Final = 86_400 * 10**9


def _utc_ns(day: date) -> int:
    return int(pd.Timestamp(datetime(day.year, day.month, day.day)).value)


# Bars opening in [RANGE_START_NS, RANGE_END_NS) are inside the data range (UTC dates EARLIEST..LATEST).
RANGE_START_NS: Final = _utc_ns(EARLIEST)
RANGE_END_NS: Final = _utc_ns(LATEST + timedelta(days=1))


def outside_range_reason(stamp: str) -> str:
    """Why a row dated outside the data range is rejected."""
    return f"{stamp} is outside the data range {EARLIEST}..{LATEST}"


def in_range(ns: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Bars that open within the data range."""
    return np.asarray((ns >= RANGE_START_NS) & (ns < RANGE_END_NS))


class SessionTable:
    """Sessions of one calendar as sorted int64 ns arrays."""

    def __init__(self, calendar: Any, name: str | None = None) -> None:
        """`name`: what messages call the calendar (the instrument's MIC: an alias such as XNAS is XNYS inside)."""
        self.tz = str(calendar.tz)
        self.name = name or str(calendar.name)
        # Sessions are tz-naive dates; opens/closes are UTC timestamps: all as int64 ns since the epoch.
        self.dates = np.asarray(calendar.sessions.asi8, dtype=np.int64)
        self.opens = np.asarray(calendar.opens.dt.tz_convert("UTC").array.asi8, dtype=np.int64)
        self.closes = np.asarray(calendar.closes.dt.tz_convert("UTC").array.asi8, dtype=np.int64)

    def daily_ok(self, ns: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Bars stamped 00:00 UTC of a session date."""
        idx = np.searchsorted(self.dates, ns)
        idx = np.clip(idx, 0, len(self.dates) - 1)
        return np.asarray(self.dates[idx] == ns)

    def intraday_ok(self, ns: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Bars that open within one session's [open, close). A bar may end after the close: the exchange's
        last partial bar (an hourly bar at 15:30 for a 16:00 close) is that session's closing bar."""
        idx = np.searchsorted(self.opens, ns, side="right") - 1
        safe = np.clip(idx, 0, len(self.opens) - 1)
        return np.asarray((idx >= 0) & (ns >= self.opens[safe]) & (ns < self.closes[safe]))

    def session_index(self, ns: npt.NDArray[np.int64], daily: bool) -> npt.NDArray[np.intp]:
        """Position in the calendar of each (valid) bar's session."""
        if daily:
            return np.asarray(np.searchsorted(self.dates, ns), dtype=np.intp)
        return np.asarray(np.searchsorted(self.opens, ns, side="right") - 1, dtype=np.intp)

    def outside_reason(self, ns: int, daily: bool) -> str:
        """Why a bar at `ns` (UTC) is outside trading time: not a session, or pre-/post-market."""
        local = pd.Timestamp(ns, tz="UTC").tz_convert("UTC" if daily else self.tz)  # daily: the date as written
        day = local.tz_localize(None).normalize()
        at = int(np.searchsorted(self.dates, day.value))
        if at >= len(self.dates) or self.dates[at] != day.value:
            return f"{local:%Y-%m-%d} is not a trading day of {self.name}"
        if daily:
            return f"{local:%Y-%m-%d %H:%M} UTC: a daily bar is stamped 00:00 of its session date"
        opens = pd.Timestamp(int(self.opens[at]), tz="UTC").tz_convert(self.tz)
        closes = pd.Timestamp(int(self.closes[at]), tz="UTC").tz_convert(self.tz)
        if ns < self.opens[at]:
            return f"pre-market: {local:%H:%M} is before the {opens:%H:%M} open ({self.tz}, {local:%Y-%m-%d})"
        return f"post-market: {local:%H:%M} is at or after the {closes:%H:%M} close ({self.tz}, {local:%Y-%m-%d})"
