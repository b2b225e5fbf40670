"""Bars for a run: read from market_data (a streamed binary COPY into column arrays) and re-stamped at
their close for Nautilus.

market_data stamps a bar with its open (daily: the session date at 00:00 UTC). Nautilus must see a
bar when it is complete, or fills happen before the bar they trade on was known (Nautilus #1537):
intraday bars move to open + bar length, daily bars to the session's close from the exchange calendar.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd

from services.engine.domain.adjustment import back_adjust, splits_inside
from services.engine.domain.sessions import session_dates as session_dates  # where the callers find it
from shared.contracts.models.corporate_action import CorporateAction
from shared.contracts.models.enums import BarAdjustment, PriceAdjustment
from shared.platform.db.bar_columns import BarColumns, read_bar_columns, read_spans_columns
from shared.platform.db.bar_versions import settled_as_of
from shared.platform.db.reads import SeriesSpan
from shared.platform.db.types import Connection

ADJUSTMENT_ATTR = "price_adjustment"  # key in a bar frame's attrs: how its prices were adjusted (the manifest's)
BAR_LENGTH = {"BAR_1MIN": timedelta(minutes=1), "BAR_5MIN": timedelta(minutes=5), "BAR_1HOUR": timedelta(hours=1)}


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, end + 1 day 00:00 UTC): the backtest's dates, inclusive."""
    return datetime.combine(start, time(), UTC), datetime.combine(end + timedelta(days=1), time(), UTC)


async def load_bars(
    conn: Connection, instrument_id: str, timeframe: str, start: date, end: date, as_of: datetime | None = None
) -> pd.DataFrame:
    """Bars of one instrument as a float frame indexed by bar open (UTC); `as_of`: as they were at that
    system time (None: the current bars), once the imports stamped by then have committed."""
    if as_of is not None:
        await settled_as_of(conn, instrument_id, timeframe)
    lo, hi = day_bounds(start, end)
    return _frame(await read_bar_columns(conn, instrument_id, timeframe, lo, hi, as_of))


async def read_spans(conn: Connection, spans: list[SeriesSpan], as_of: datetime) -> list[pd.DataFrame]:
    """`load_bars` of several series as of `as_of`, in one statement (see read_spans_columns), for a reader that
    has settled them as of it already (their shared locks are held)."""
    return [_frame(columns) for columns in await read_spans_columns(conn, spans, as_of)]


def _frame(columns: BarColumns) -> pd.DataFrame:
    index = pd.DatetimeIndex(columns.timestamp.view("datetime64[ns]"), name="timestamp").tz_localize("UTC")
    return pd.DataFrame(
        {
            "open": columns.open,
            "high": columns.high,
            "low": columns.low,
            "close": columns.close,
            "volume": columns.volume.astype(np.float64),
        },
        index=index,
        copy=False,
    )


def adjusted_bars(
    instrument_id: str,
    frame: pd.DataFrame,
    stored: BarAdjustment,
    actions: list[CorporateAction],
    mode: PriceAdjustment,
) -> tuple[pd.DataFrame, list[str]]:
    """Back-adjust RAW bars (`stored`: how they were imported) for the instrument's corporate `actions` as `mode`
    asks; bars imported ADJUSTED are returned as they are. What was done goes into the frame's attrs (for the
    manifest); returns warnings."""
    record: dict[str, Any] = {"bars": stored.value, "requested": mode.value, "applied": PriceAdjustment.NONE.value}
    notes: list[str] = []
    if stored is BarAdjustment.RAW and mode is not PriceAdjustment.NONE:
        sessions = frame.index.tz_convert(None).normalize()
        done = back_adjust(frame, pd.DatetimeIndex(sessions), actions, mode)
        frame = done.frame
        record.update(applied=mode.value, splits=done.splits_applied, dividends=done.dividends_applied)
        notes += [f"ADJUSTMENT {instrument_id}: {reason}; not applied" for reason in done.skipped]
    elif stored is BarAdjustment.RAW:  # NONE asked for: say which recorded splits stay in the prices
        sessions = pd.DatetimeIndex(frame.index.tz_convert(None).normalize())
        kept = splits_inside(sessions, actions)
        if kept:
            listed = ", ".join(f"{a.ex_date} ({a.value:g}:1)" for a in kept)
            notes.append(
                f"ADJUSTMENT {instrument_id}: price_adjustment NONE: {len(kept)} split(s) on record not applied, "
                f"their moves stay in the prices: {listed}"
            )
    elif stored is BarAdjustment.ADJUSTED and mode is not PriceAdjustment.NONE:
        notes.append(
            f"ADJUSTMENT {instrument_id}: bars were imported ADJUSTED; price_adjustment {mode} not applied again"
        )
    frame.attrs[ADJUSTMENT_ATTR] = record
    return frame, notes


def stamp_at_close(frame: pd.DataFrame, timeframe: str, calendar: Any) -> pd.DataFrame:
    """Re-index bars from their open to their close."""
    if frame.empty:
        return frame
    if timeframe == "BAR_DAILY":
        sessions = frame.index.tz_convert(None).normalize()
        closes = calendar.closes.reindex(sessions)
        if closes.isna().any():
            missing = ", ".join(str(d.date()) for d in sessions[closes.isna().to_numpy()][:5])
            raise ValueError(f"daily bars on dates that are not sessions of the exchange: {missing}")
        index = (
            pd.DatetimeIndex(closes.to_numpy()).tz_localize("UTC")
            if closes.dt.tz is None
            else pd.DatetimeIndex(closes.dt.tz_convert("UTC"))
        )
    else:
        index = _intraday_closes(pd.DatetimeIndex(frame.index), BAR_LENGTH[timeframe], calendar)
    stamped = frame.copy()
    stamped.index = index
    return stamped


def _intraday_closes(opens: pd.DatetimeIndex, length: timedelta, calendar: Any) -> pd.DatetimeIndex:
    """Each bar's close: its open + `length`, but never after its session's close (the exchange's last
    partial bar, e.g. an hourly bar opening at 15:30 closes at 16:00, not 16:30)."""
    session_closes = pd.DatetimeIndex(calendar.closes.to_numpy())
    session_closes = session_closes.tz_localize("UTC") if session_closes.tz is None else session_closes
    ends = opens + length
    following = np.searchsorted(session_closes.asi8, opens.asi8, side="right")  # the first close after the open
    inside = following < len(session_closes)
    capped = np.where(inside, session_closes.asi8[np.minimum(following, len(session_closes) - 1)], ends.asi8)
    return pd.DatetimeIndex(pd.to_datetime(np.minimum(ends.asi8, capped), unit="ns", utc=True))


def trading_days(frame: pd.DataFrame) -> int:
    """Distinct session dates with at least one bar (index: bar open, UTC)."""
    return int(frame.index.tz_convert(None).normalize().nunique()) if not frame.empty else 0
