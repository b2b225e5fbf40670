"""Validate a chunk of bars at once (numpy), reporting each bad row as {line, field, message}.

The rules: prices are positive numbers, high >= max(open, close), low <= min(open, close),
volume >= 0 (and whole), plus the exchange's calendar (see `sessions`). Every rule runs on every
row so a file's errors are reported together, not one per attempt. Every value the database (or the
engine) would refuse is caught here first, so one bad row is a rejected row, never a failed file:
prices lie in [MIN_PRICE, MAX_PRICE] (what a Nautilus price can hold) and volume in [0, MAX_VOLUME].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

PRICE_FIELDS = ("open", "high", "low", "close")
MIN_PRICE = 1e-9  # a Nautilus price keeps 9 decimal places: anything smaller would be 0
MAX_PRICE = 1e9  # under Nautilus' largest price (about 9.2e9)
MAX_VOLUME = 10**15  # shares in one bar; well inside bigint and exact in a float64


@dataclass(frozen=True)
class RowProblem:
    position: int  # row position within the chunk
    field: str
    message: str


@dataclass
class CheckedChunk:
    ns: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.int64]
    valid: npt.NDArray[np.bool_]
    problems: list[RowProblem]


def _numbers(raw: pa.Array, field: str, problems: list[RowProblem]) -> npt.NDArray[np.float64]:
    try:  # fast path: every value parses (Arrow)
        values = np.asarray(pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    except pa.ArrowInvalid:
        strings = raw.to_pandas()
        values = np.asarray(pd.to_numeric(strings, errors="coerce").to_numpy(dtype=np.float64), dtype=np.float64)
        for pos in np.flatnonzero(~np.isfinite(values)):
            problems.append(RowProblem(int(pos), field, f"{field} must be a number, got {strings.iat[pos]!r}"))
        return values
    for pos in np.flatnonzero(~np.isfinite(values)):  # "nan" and "inf" parse, but are not prices
        problems.append(RowProblem(int(pos), field, f"{field} must be a finite number, got {values[pos]}"))
    return values


def check_chunk(
    columns: dict[str, pa.Array], ns: npt.NDArray[np.int64], ts_valid: npt.NDArray[np.bool_]
) -> CheckedChunk:
    """`columns`: raw strings of open/high/low/close/volume; `ns`/`ts_valid`: parsed timestamps."""
    problems: list[RowProblem] = []
    prices = {f: _numbers(columns[f], f, problems) for f in PRICE_FIELDS}
    volume_f = _numbers(columns["volume"], "volume", problems)
    o, h, lo, c = (prices[f] for f in PRICE_FIELDS)
    with np.errstate(invalid="ignore"):
        for field, values in prices.items():
            for pos in np.flatnonzero(values <= 0):
                problems.append(RowProblem(int(pos), field, f"{field} must be > 0, got {values[pos]:g}"))
            outside = (values > 0) & ((values < MIN_PRICE) | (values > MAX_PRICE))
            for pos in np.flatnonzero(outside):
                expected = f"{field} must be between {MIN_PRICE:g} and {MAX_PRICE:g}"
                problems.append(RowProblem(int(pos), field, f"{expected}, got {values[pos]:g}"))
        for pos in np.flatnonzero(h < np.maximum(o, c)):
            problems.append(
                RowProblem(
                    int(pos),
                    "high",
                    f"high must be >= max(open, close): high={h[pos]:g}, open={o[pos]:g}, close={c[pos]:g}",
                )
            )
        for pos in np.flatnonzero(lo > np.minimum(o, c)):
            problems.append(
                RowProblem(
                    int(pos),
                    "low",
                    f"low must be <= min(open, close): low={lo[pos]:g}, open={o[pos]:g}, close={c[pos]:g}",
                )
            )
        for pos in np.flatnonzero(volume_f < 0):
            problems.append(RowProblem(int(pos), "volume", f"volume must be >= 0, got {volume_f[pos]:g}"))
        for pos in np.flatnonzero(np.isfinite(volume_f) & (volume_f > MAX_VOLUME)):
            problems.append(RowProblem(int(pos), "volume", f"volume must be <= {MAX_VOLUME:g}, got {volume_f[pos]:g}"))
        fractional = np.isfinite(volume_f) & (volume_f != np.floor(volume_f))
        for pos in np.flatnonzero(fractional):
            problems.append(RowProblem(int(pos), "volume", f"volume must be a whole number, got {volume_f[pos]:g}"))
    valid = ts_valid.copy()
    if problems:
        valid[[p.position for p in problems]] = False
    storable = np.isfinite(volume_f) & (volume_f >= 0) & (volume_f <= MAX_VOLUME)  # rejected rows: 0, not garbage
    volume = np.where(storable, volume_f, 0).astype(np.int64)
    return CheckedChunk(ns=ns, open=o, high=h, low=lo, close=c, volume=volume, valid=valid, problems=problems)
