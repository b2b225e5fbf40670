"""Turn the timestamp column of a CSV chunk into UTC bar-open times (int64 ns), vectorised.

Accepted (DAILY_FORMATS, INTRADAY_FORMATS): ISO 8601 with an offset or Z; epoch seconds or milliseconds;
dates (daily bars); TWS's `YYYYMMDD HH:MM:SS [zone]`. An unreadable value's message lists them.
A time without a zone is an error unless the request says to read it in the exchange's time zone: a
wrong guess would shift every bar by hours, silently.
Daily bars are stamped with their session date at 00:00 UTC (the date as written in the file).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shared.contracts.text_bounds import MAX_NAME_CHARS, clip

NAT = np.iinfo(np.int64).min
_AWARE = r"(?:[zZ]|[+-]\d\d:?\d\d)$"
_EPOCH = r"\d{9,13}(?:\.\d+)?"
_TWS = r"\d{8}\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s+\S+)?"
# What an unreadable timestamp's message lists (a row message holds 200 characters: examples, not a grammar).
DAILY_FORMATS = "a date (2024-01-02 or 20240102) or epoch seconds/ms"
INTRADAY_FORMATS = (
    "ISO 8601 with an offset (2024-01-02T14:30:00Z, 2024-01-02 09:30-05:00), epoch seconds/ms (1704205800), "
    "TWS (20240102 09:30:00 US/Eastern)"
)
# Epoch values at or above this are milliseconds (1e11 s would be the year 5138).
_MS_THRESHOLD = 100_000_000_000


@dataclass
class ParsedTimestamps:
    ns: npt.NDArray[np.int64]  # UTC nanoseconds; NAT where invalid
    errors: dict[int, str] = field(default_factory=dict)  # row position -> reason

    @property
    def valid(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.ns != NAT, dtype=np.bool_)


def _to_ns(values: pd.Series) -> npt.NDArray[np.int64]:
    """datetime64 series (UTC or naive-as-UTC) -> int64 ns with NAT for NaT."""
    return np.asarray(values.to_numpy(dtype="datetime64[ns]").view(np.int64))


def _epoch(strings: pd.Series) -> npt.NDArray[np.int64]:
    numbers = pd.to_numeric(strings, errors="coerce").to_numpy(dtype=np.float64)
    seconds = np.where(numbers >= _MS_THRESHOLD, numbers / 1000.0, numbers)
    return np.asarray(np.round(seconds * 1e9).astype(np.int64))


def _dates(strings: pd.Series) -> npt.NDArray[np.int64]:
    """YYYY-MM-DD... or YYYYMMDD... -> 00:00 UTC of that date."""
    iso = pd.to_datetime(strings.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    compact = pd.to_datetime(strings.str.slice(0, 8), format="%Y%m%d", errors="coerce")
    return _to_ns(iso.fillna(compact))


def _localise(naive: pd.Series, zone: str) -> pd.Series:
    return naive.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC").dt.tz_localize(None)


def parse_timestamps(raw: pa.Array, *, daily: bool, naive_zone: str | None) -> ParsedTimestamps:
    """Parse one chunk. `naive_zone`: the exchange's IANA zone when naive times are allowed, else None.

    Fast path (Arrow, ~50x pandas): the whole chunk is ISO 8601 with offsets, or plain dates for daily
    bars. Anything else takes the general path below, which also explains each bad value.
    """
    fast = _fast_path(raw, daily)
    if fast is not None:
        return ParsedTimestamps(fast)
    return _general_path(raw.to_pandas().astype(str).str.strip(), daily=daily, naive_zone=naive_zone)


def _fast_path(raw: pa.Array, daily: bool) -> npt.NDArray[np.int64] | None:
    try:
        if daily:
            parsed = pc.strptime(pc.utf8_slice_codeunits(raw, 0, 10), format="%Y-%m-%d", unit="ns")
        else:
            # Arrow refuses a string without an offset here, which is exactly our rule for naive times.
            parsed = pc.cast(raw, pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if parsed.null_count:
        return None
    return np.asarray(parsed.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _general_path(strings: pd.Series, *, daily: bool, naive_zone: str | None) -> ParsedTimestamps:
    out = np.full(len(strings), NAT, dtype=np.int64)
    errors: dict[int, str] = {}
    positions = np.arange(len(strings))

    epoch_mask = strings.str.fullmatch(_EPOCH).to_numpy(dtype=bool)
    if epoch_mask.any():
        out[epoch_mask] = _epoch(strings[epoch_mask])
        if daily:  # an epoch daily bar: its UTC date
            day = np.int64(86_400_000_000_000)
            out[epoch_mask] = out[epoch_mask] // day * day
    rest = ~epoch_mask

    if daily:
        out[rest] = _dates(strings[rest])
        for pos in positions[rest & (out == NAT)]:
            errors[int(pos)] = f"cannot read date {_quoted(strings.iat[pos])}: accepted: {DAILY_FORMATS}"
        return ParsedTimestamps(out, errors)

    date_only = strings.str.fullmatch(r"\d{4}-?\d{2}-?\d{2}").to_numpy(dtype=bool) & rest
    for pos in positions[date_only]:
        errors[int(pos)] = f"an intraday bar needs a time of day, got the date {strings.iat[pos]!r}"
    rest &= ~date_only

    aware = strings.str.contains(_AWARE, regex=True).to_numpy(dtype=bool) & rest
    if aware.any():
        out[aware] = _to_ns(
            pd.to_datetime(strings[aware], format="ISO8601", utc=True, errors="coerce").dt.tz_localize(None)
        )
    rest &= ~aware

    tws = strings.str.fullmatch(_TWS).to_numpy(dtype=bool) & rest
    if tws.any():
        out[tws] = _parse_tws(strings[tws], naive_zone, errors, positions[tws])
    rest &= ~tws

    if rest.any():
        naive = pd.to_datetime(strings[rest], format="ISO8601", errors="coerce")
        parsed_ok = naive.notna().to_numpy()
        if naive_zone is not None:
            out[rest] = _to_ns(_localise(naive, naive_zone))
        else:
            for pos in positions[rest][parsed_ok]:
                errors[int(pos)] = _naive_message(strings.iat[pos])
    for pos in positions[(out == NAT)]:
        errors.setdefault(int(pos), _unparseable(strings.iat[pos], naive_zone))
    out[list(errors)] = NAT
    return ParsedTimestamps(out, errors)


def _parse_tws(strings: pd.Series, naive_zone: str | None, errors: dict[int, str], where: np.ndarray) -> np.ndarray:
    """TWS exports: 'YYYYMMDD HH:MM:SS' optionally followed by an IANA zone such as US/Eastern."""
    parts = strings.str.split(r"\s+", n=2, expand=True, regex=True)
    local = pd.to_datetime(parts[0] + " " + parts[1], format="mixed", errors="coerce")
    zones = parts[2] if parts.shape[1] > 2 else pd.Series([None] * len(strings), index=strings.index)
    result = np.full(len(strings), NAT, dtype=np.int64)
    for zone in zones.fillna("").unique():
        mask = (zones.fillna("") == zone).to_numpy()
        use = zone or naive_zone
        if not use:
            for pos in where[mask]:
                errors[int(pos)] = _naive_message(strings.iat[int(np.searchsorted(where, pos))])
            continue
        try:
            result[mask] = _to_ns(_localise(local[mask], use))
        except Exception:  # an unknown zone name: every row of it is wrong, say which zone
            for pos in where[mask]:
                errors[int(pos)] = f"unknown time zone {zone!r}"
    return result


def _naive_message(value: str) -> str:
    return (
        f"timestamp {value!r} has no time zone: add an offset such as +00:00, or import with "
        "naive_timestamps_in_exchange_tz to read it in the exchange's zone"
    )


def _quoted(value: str) -> str:
    return repr(clip(value, MAX_NAME_CHARS))


def _unparseable(value: str, naive_zone: str | None) -> str:
    if naive_zone is not None and value:
        return (
            f"cannot read timestamp {_quoted(value)} (or it does not exist / is ambiguous in {naive_zone}); "
            "accepted: ISO 8601 with or without an offset, epoch seconds/ms, TWS"
        )
    return f"cannot read timestamp {_quoted(value)}: accepted: {INTRADAY_FORMATS}"
