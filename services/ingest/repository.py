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
from shared.platform.db.bar_versions import begin_series_version
from shared.platform.db.timeseries import ensure_partitions
from shared.platform.db.types import Connection

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
    version = await begin_series_version(conn, instrument_id, timeframe)
    # Two statements because RETURNING xmax is not allowed on a partitioned table: first the bars
    # that exist with other values, then the new ones; their command tags give the counts.
    existing = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM ingest.market_data WHERE instrument_id = $1 AND timeframe = $2 "
        'AND "timestamp" BETWEEN $3 AND $4)',
        instrument_id,
        timeframe,
        lo,
        hi,
    )
    updated_tag = "UPDATE 0"
    if existing:  # a first import of a range skips the join entirely
        # System-time versioning: the values a changed bar had until `version` (the import's time) go to
        # market_data_history in the same statement that replaces them (one join of staging and market_data:
        # the CTEs see the bars as they were before the UPDATE), so results that read them can be re-run.
        updated_tag = await conn.execute(
            f"""
            WITH changed AS (
                SELECT m."timestamp", m.open, m.high, m.low, m.close, m.volume, m.valid_from,
                       s.open::numeric AS new_open, s.high::numeric AS new_high, s.low::numeric AS new_low,
                       s.close::numeric AS new_close, s.volume AS new_volume
                  FROM ingest.market_data AS m JOIN {STAGING} AS s ON m."timestamp" = s.ts
                 WHERE m.instrument_id = $1 AND m.timeframe = $2 AND m."timestamp" BETWEEN $3 AND $4
                   AND (m.open, m.high, m.low, m.close, m.volume)
                       IS DISTINCT FROM (s.open::numeric, s.high::numeric, s.low::numeric, s.close::numeric, s.volume)
            ), kept AS (
                INSERT INTO ingest.market_data_history
                       (instrument_id, timeframe, "timestamp", open, high, low, close, volume, valid_from, valid_to)
                SELECT $1, $2, "timestamp", open, high, low, close, volume, valid_from, $5 FROM changed
            )
            UPDATE ingest.market_data AS m
               SET open = c.new_open, high = c.new_high, low = c.new_low, close = c.new_close,
                   volume = c.new_volume, valid_from = $5
              FROM changed AS c
             WHERE m.instrument_id = $1 AND m.timeframe = $2 AND m."timestamp" = c."timestamp"
               AND m."timestamp" BETWEEN $3 AND $4
            """,
            instrument_id,
            timeframe,
            lo,
            hi,
            version,
        )
    inserted_tag = await _insert_new(conn, instrument_id, timeframe, version, conflict_check=bool(existing))
    staged = await conn.fetchval(f"SELECT count(*) FROM {STAGING}")
    updated, inserted = int(updated_tag.split()[-1]), int(inserted_tag.split()[-1])
    counts = MergeCounts(inserted=inserted, updated=updated, unchanged=int(staged) - inserted - updated)
    if inserted or updated:
        await _record_version(conn, instrument_id, timeframe, version, lo, hi, counts)
    return counts


async def _record_version(
    conn: Connection,
    instrument_id: str,
    timeframe: str,
    version: datetime,
    lo: datetime,
    hi: datetime,
    counts: MergeCounts,
) -> None:
    """One row per import that changed a series: `bts data history` lists them."""
    await conn.execute(
        "INSERT INTO ingest.market_data_versions (instrument_id, timeframe, recorded_at, inserted, updated, "
        "unchanged, first_bar, last_bar) VALUES ($1, $2, $8, $3, $4, $5, $6, $7)",
        instrument_id,
        timeframe,
        counts.inserted,
        counts.updated,
        counts.unchanged,
        lo,
        hi,
        version,
    )


async def _insert_new(
    conn: Connection, instrument_id: str, timeframe: str, version: datetime, conflict_check: bool
) -> str:
    """INSERT the staged bars; without ON CONFLICT (a third faster) when the range was empty."""
    insert = f"""
        INSERT INTO ingest.market_data (instrument_id, timeframe, "timestamp", open, high, low, close, volume,
                                        valid_from)
        SELECT $1, $2, ts, open::numeric, high::numeric, low::numeric, close::numeric, volume, $3 FROM {STAGING}
    """
    on_conflict = ' ON CONFLICT (instrument_id, timeframe, "timestamp") DO NOTHING'
    if not conflict_check:
        try:
            async with conn.transaction():  # a savepoint: a concurrent import may have won the race
                return str(await conn.execute(insert, instrument_id, timeframe, version))
        except asyncpg.UniqueViolationError:
            pass
    return str(await conn.execute(insert + on_conflict, instrument_id, timeframe, version))


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
