"""One series' bars as numpy columns, read with a binary COPY (the engine's bulk read).

Apart from shared.platform.db.reads so that what every service imports to start does not load numpy.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from shared.platform.db.reads import SeriesSpan, bars_sql, spans_bars_sql
from shared.platform.db.types import Connection

# Binary COPY of fixed-width columns: every row is the same 74 bytes (a field count, then a length
# and a value per field), so numpy reads a chunk of rows in one call, without a Python object per value.
_BAR_COPY_COLUMNS = '"timestamp", open::float8, high::float8, low::float8, close::float8, volume'
_BAR_FIELDS = [
    ("l0", ">i4"),
    ("timestamp", ">i8"),
    ("l1", ">i4"),
    ("open", ">f8"),
    ("l2", ">i4"),
    ("high", ">f8"),
    ("l3", ">i4"),
    ("low", ">f8"),
    ("l4", ">i4"),
    ("close", ">f8"),
    ("l5", ">i4"),
    ("volume", ">i8"),
]
_BAR_ROW = np.dtype([("fields", ">i2"), *_BAR_FIELDS])
# Several series in one COPY: each row starts with its series' ordinal (int2), 80 bytes a row.
_SPAN_ROW = np.dtype([("fields", ">i2"), ("ln", ">i4"), ("n", ">i2"), *_BAR_FIELDS])
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds: binary timestamps count from there


class BarColumns(BaseModel):
    """Bars as columns: `timestamp` in Unix nanoseconds (bar open, UTC), prices as float64."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    timestamp: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.int64]


class _BarCopyParser:
    """Turns the COPY stream's chunks into column arrays as they arrive (rows may span chunks)."""

    def __init__(self, row: np.dtype[np.void] = _BAR_ROW) -> None:
        self.row = row
        self.pending = b""
        self.header_done = False
        self.parts: list[npt.NDArray[np.void]] = []

    async def feed(self, chunk: bytes) -> None:
        data = self.pending + bytes(chunk)
        if not self.header_done:
            if len(data) < 19:
                self.pending = data
                return
            if data[:11] != _COPY_SIGNATURE:
                raise ValueError("not a PostgreSQL binary COPY stream")
            extension = int.from_bytes(data[15:19], "big")
            data, self.header_done = data[19 + extension :], True
        rows = len(data) // self.row.itemsize
        if rows:
            self.parts.append(np.frombuffer(data, dtype=self.row, count=rows).copy())
        self.pending = data[rows * self.row.itemsize :]

    def rows(self) -> npt.NDArray[np.void]:
        """Every row read, once the stream has ended."""
        if self.pending not in (b"", b"\xff\xff"):  # the trailer: a field count of -1
            raise ValueError(f"binary COPY stream ended inside a row ({len(self.pending)} bytes left)")
        rows = np.concatenate(self.parts) if self.parts else np.empty(0, dtype=self.row)
        if len(rows) and (rows["fields"] != len(self.row.descr) // 2).any():  # a length and a value each
            raise ValueError("unexpected column count in the binary COPY stream")
        return rows

    def columns(self) -> BarColumns:
        return _columns(self.rows())


def _columns(rows: npt.NDArray[np.void]) -> BarColumns:
    return BarColumns(
        timestamp=(rows["timestamp"].astype(np.int64) + _PG_EPOCH_US) * 1000,
        open=rows["open"].astype(np.float64),
        high=rows["high"].astype(np.float64),
        low=rows["low"].astype(np.float64),
        close=rows["close"].astype(np.float64),
        volume=rows["volume"].astype(np.int64),
    )


async def read_bar_columns(
    conn: Connection, instrument_id: str, timeframe: str, start: datetime, end: datetime, as_of: datetime | None = None
) -> BarColumns:
    """ingest.market_data in time order as column arrays, streamed with a binary COPY: memory holds the
    columns (about 48 bytes a bar), never a Python object per value; `as_of`: the bars as they were then
    (None: the current ones). Readers: engine."""
    parser = _BarCopyParser()
    args = (instrument_id, timeframe, start, end) + ((as_of,) if as_of is not None else ())
    sql = bars_sql(_BAR_COPY_COLUMNS, as_of is not None)
    await conn.copy_from_query(sql, *args, output=parser.feed, format="binary")
    return parser.columns()


async def read_spans_columns(conn: Connection, spans: list[SeriesSpan], as_of: datetime) -> list[BarColumns]:
    """`read_bar_columns` of several series at once, as of one time: one statement and one stream instead of one
    each (each statement plans and scans every monthly partition of its span). Readers: engine."""
    if not spans:
        return []
    parser = _BarCopyParser(_SPAN_ROW)
    columns = (list(column) for column in zip(*spans, strict=True))
    await conn.copy_from_query(spans_bars_sql(_BAR_COPY_COLUMNS), *columns, as_of, output=parser.feed, format="binary")
    rows = parser.rows()
    bounds = np.searchsorted(rows["n"], np.arange(1, len(spans) + 2))  # ordinals from 1, rows in their order
    return [_columns(rows[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
