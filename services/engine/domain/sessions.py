"""Session dates of bars stamped at their close (pure)."""

from __future__ import annotations

import pandas as pd


def session_dates(close_stamps: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The session date (naive) of bars stamped at their close: the UTC date of the instant before the close,
    so a session that ends at 24:00 UTC (24/5 FX) keeps its own date, and a partial last session too."""
    return (close_stamps - pd.Timedelta(1, "ns")).tz_convert(None).normalize()
