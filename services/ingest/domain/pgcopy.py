"""PostgreSQL binary COPY encoding of bar rows, built with numpy in one go (no per-row Python).

Staging columns: line int4, ts timestamptz, open/high/low/close float8, volume int8. Prices travel
as float8 and become numeric in the merge: a decimal of up to 15 significant digits survives the
round trip exactly (PostgreSQL's float8 -> numeric keeps 15 digits), and every price we load is
validated to be such a number first.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
# PostgreSQL timestamps count microseconds from 2000-01-01 UTC.
PG_EPOCH_US = 946_684_800_000_000

STAGING_COLUMNS = ("line", "ts", "open", "high", "low", "close", "volume")

_ROW = np.dtype(
    [
        ("nfields", ">i2"),
        ("l_line", ">i4"),
        ("line", ">i4"),
        ("l_ts", ">i4"),
        ("ts", ">i8"),
        ("l_open", ">i4"),
        ("open", ">f8"),
        ("l_high", ">i4"),
        ("high", ">f8"),
        ("l_low", ">i4"),
        ("low", ">f8"),
        ("l_close", ">i4"),
        ("close", ">f8"),
        ("l_volume", ">i4"),
        ("volume", ">i8"),
    ]
)


def encode_rows(
    line: npt.NDArray[np.int64],
    ns: npt.NDArray[np.int64],
    open_: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    volume: npt.NDArray[np.int64],
) -> bytes:
    """The body rows (no header/trailer) for the staging columns, in order."""
    rows = np.empty(len(ns), dtype=_ROW)
    rows["nfields"] = len(STAGING_COLUMNS)
    for name, size in (("line", 4), ("ts", 8), ("open", 8), ("high", 8), ("low", 8), ("close", 8), ("volume", 8)):
        rows[f"l_{name}"] = size
    rows["line"] = line
    rows["ts"] = ns // 1000 - PG_EPOCH_US
    rows["open"], rows["high"], rows["low"], rows["close"] = open_, high, low, close
    rows["volume"] = volume
    return rows.tobytes()
