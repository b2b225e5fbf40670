"""The ingest service's SQL: staging, merge into market_data, and the instrument it loads for."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import numpy as np
import pandas as pd

from services.ingest.domain.pgcopy import HEADER, STAGING_COLUMNS, TRAILER
from services.ingest.domain.quality_report import LoadedBars
from shared.db.timeseries import ensure_partitions
from shared.db.types import Connection

STAGING = "bars_staging"


@dataclass(frozen=True)
class MergeCounts:
    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class Duplicate:
    line: int
    first_line: int
    timestamp: datetime


async def create_staging(conn: Connection) -> None:
    """A temporary table that lives as long as the transaction of the job."""
    await conn.execute(
        f"CREATE TEMP TABLE {STAGING} (line int4 NOT NULL, ts timestamptz NOT NULL, open float8, high float8,"
        " low float8, close float8, volume int8) ON COMMIT DROP"
    )


async def copy_rows(conn: Connection, body: bytes) -> None:
    """Binary COPY of rows encoded by `domain.pgcopy.encode_rows`."""
    if body:
        await conn.copy_to_table(
            STAGING, source=io.BytesIO(HEADER + body + TRAILER), columns=list(STAGING_COLUMNS), format="binary"
        )


async def find_duplicates(conn: Connection, limit: int) -> tuple[int, list[Duplicate]]:
    """Rows whose timestamp an earlier line of the same file already has: (count, first `limit`)."""
    await conn.execute(f"CREATE INDEX ON {STAGING} (ts, line)")
    rows = await conn.fetch(
        f"""
        WITH ranked AS (
            SELECT line, ts, min(line) OVER (PARTITION BY ts) AS first_line FROM {STAGING}
        ), dups AS (SELECT * FROM ranked WHERE line <> first_line)
        SELECT line, first_line, ts, count(*) OVER () AS total FROM dups ORDER BY line LIMIT $1
        """,
        limit,
    )
    total = int(rows[0]["total"]) if rows else 0
    return total, [Duplicate(r["line"], r["first_line"], r["ts"]) for r in rows]


async def drop_duplicates(conn: Connection) -> None:
    await conn.execute(f"DELETE FROM {STAGING} s USING {STAGING} f WHERE s.ts = f.ts AND s.line > f.line")


async def staged_range(conn: Connection) -> tuple[datetime | None, datetime | None, int]:
    row = await conn.fetchrow(f"SELECT min(ts) AS lo, max(ts) AS hi, count(*) AS n FROM {STAGING}")
    assert row is not None
    return row["lo"], row["hi"], int(row["n"])


async def merge(conn: Connection, instrument_id: str, timeframe: str, lo: datetime, hi: datetime) -> MergeCounts:
    """Upsert staged rows: new bars inserted, changed bars updated, identical bars left alone."""
    await ensure_partitions(conn, "ingest.market_data", lo, hi)
    # Two statements because RETURNING xmax is not allowed on a partitioned table: first the bars
    # that exist with other values, then the new ones; their command tags give the counts.
    existing = await conn.fetchval(
        'SELECT EXISTS (SELECT 1 FROM ingest.market_data WHERE instrument_id = $1 AND timeframe = $2 '
        'AND "timestamp" BETWEEN $3 AND $4)',
        instrument_id, timeframe, lo, hi,
    )  # fmt: skip
    updated_tag = "UPDATE 0"
    if existing:  # a first import of a range skips the join entirely
        updated_tag = await conn.execute(
            f"""
            UPDATE ingest.market_data AS m
               SET open = s.open::numeric, high = s.high::numeric, low = s.low::numeric,
                   close = s.close::numeric, volume = s.volume
              FROM {STAGING} AS s
             WHERE m.instrument_id = $1 AND m.timeframe = $2 AND m."timestamp" = s.ts
               AND m."timestamp" BETWEEN $3 AND $4
               AND (m.open, m.high, m.low, m.close, m.volume)
                   IS DISTINCT FROM (s.open::numeric, s.high::numeric, s.low::numeric, s.close::numeric, s.volume)
            """,
            instrument_id, timeframe, lo, hi,
        )  # fmt: skip
    inserted_tag = await _insert_new(conn, instrument_id, timeframe, conflict_check=bool(existing))
    staged = await conn.fetchval(f"SELECT count(*) FROM {STAGING}")
    updated, inserted = int(updated_tag.split()[-1]), int(inserted_tag.split()[-1])
    return MergeCounts(inserted=inserted, updated=updated, unchanged=int(staged) - inserted - updated)


async def _insert_new(conn: Connection, instrument_id: str, timeframe: str, conflict_check: bool) -> str:
    """INSERT the staged bars; without ON CONFLICT (a third faster) when the range was empty."""
    insert = f"""
        INSERT INTO ingest.market_data (instrument_id, timeframe, "timestamp", open, high, low, close, volume)
        SELECT $1, $2, ts, open::numeric, high::numeric, low::numeric, close::numeric, volume FROM {STAGING}
    """
    on_conflict = ' ON CONFLICT (instrument_id, timeframe, "timestamp") DO NOTHING'
    if not conflict_check:
        try:
            async with conn.transaction():  # a savepoint: a concurrent import may have won the race
                return str(await conn.execute(insert, instrument_id, timeframe))
        except asyncpg.UniqueViolationError:
            pass
    return str(await conn.execute(insert + on_conflict, instrument_id, timeframe))


async def staged_in_order(conn: Connection, batch: int = 100_000) -> AsyncIterator[LoadedBars]:
    """The staged rows in time order, in batches (inside the job's transaction)."""
    cursor = await conn.cursor(f"SELECT ts, open, high, low, close, volume FROM {STAGING} ORDER BY ts")
    while rows := await cursor.fetch(batch):
        column = {name: [r[name] for r in rows] for name in ("open", "high", "low", "close", "volume")}
        yield LoadedBars(
            ns=np.asarray(pd.DatetimeIndex([r["ts"] for r in rows]).asi8, dtype=np.int64),
            open=np.array(column["open"], dtype=np.float64),
            high=np.array(column["high"], dtype=np.float64),
            low=np.array(column["low"], dtype=np.float64),
            close=np.array(column["close"], dtype=np.float64),
            volume=np.array(column["volume"], dtype=np.int64),
        )
