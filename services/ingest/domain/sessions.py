"""Is a bar inside its exchange's trading time? Daily: a session date. Intraday: inside a session.

Uses the exchange calendar (holidays, early closes), vectorised with searchsorted over sessions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


class SessionTable:
    """Sessions of one calendar as sorted int64 ns arrays."""

    def __init__(self, calendar: Any) -> None:
        self.tz = str(calendar.tz)
        # Sessions are tz-naive dates; opens/closes are UTC timestamps: all as int64 ns since the epoch.
        self.dates = np.asarray(calendar.sessions.asi8, dtype=np.int64)
        self.opens = np.asarray(calendar.opens.dt.tz_convert("UTC").array.asi8, dtype=np.int64)
        self.closes = np.asarray(calendar.closes.dt.tz_convert("UTC").array.asi8, dtype=np.int64)

    def daily_ok(self, ns: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Bars stamped 00:00 UTC of a session date."""
        idx = np.searchsorted(self.dates, ns)
        idx = np.clip(idx, 0, len(self.dates) - 1)
        return np.asarray(self.dates[idx] == ns)

    def intraday_ok(self, ns: npt.NDArray[np.int64], bar_ns: int) -> npt.NDArray[np.bool_]:
        """Bars whose [open, open + length) lies within one session's [open, close)."""
        idx = np.searchsorted(self.opens, ns, side="right") - 1
        safe = np.clip(idx, 0, len(self.opens) - 1)
        return np.asarray((idx >= 0) & (ns >= self.opens[safe]) & (ns + bar_ns <= self.closes[safe]))
