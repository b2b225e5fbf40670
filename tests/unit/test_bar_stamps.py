"""Bars are handed to Nautilus stamped at their close; the exchange's last partial bar closes with the session."""

from __future__ import annotations

import pandas as pd

from services.engine.bars import stamp_at_close
from shared.domain.calendars import calendar_for


def _hourly(opens: list[str]) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(opens)).tz_localize("America/New_York").tz_convert("UTC")
    return pd.DataFrame({"close": range(len(opens))}, index=index)


def test_the_last_partial_bar_of_a_session_closes_with_the_session() -> None:
    stamped = stamp_at_close(_hourly(["2024-03-05 14:30", "2024-03-05 15:30"]), "BAR_1HOUR", calendar_for("NYSE"))
    closes = [t.tz_convert("America/New_York").strftime("%H:%M") for t in stamped.index]
    assert closes == ["15:30", "16:00"]  # not 16:30: the session closes at 16:00


def test_an_early_close_caps_its_last_bar_too() -> None:
    stamped = stamp_at_close(_hourly(["2024-11-29 11:30", "2024-11-29 12:30"]), "BAR_1HOUR", calendar_for("NYSE"))
    closes = [t.tz_convert("America/New_York").strftime("%H:%M") for t in stamped.index]
    assert closes == ["12:30", "13:00"]  # the day after Thanksgiving closes at 13:00


def test_bars_inside_the_session_keep_open_plus_length() -> None:
    frame = _hourly(["2024-03-05 09:30", "2024-03-05 10:30"])
    stamped = stamp_at_close(frame, "BAR_1HOUR", calendar_for("NYSE"))
    assert list(stamped.index) == list(frame.index + pd.Timedelta(hours=1))
