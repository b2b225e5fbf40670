"""Time-series tables: TimescaleDB hypertables when the extension is there, native range partitions if not.

One code path: a migration calls `create_time_series_table`, writers call `ensure_partitions` before
they write a time range. On TimescaleDB the second is a no-op (chunks appear by themselves); on plain
PostgreSQL it creates the missing partitions for the range, ahead of the rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

Step = Literal["month", "day"]

# The data model: market_data chunked by month, portfolio snapshots by day; snapshots are by month here, their
# partitions made once for the whole allowed period (docs/decisions/0013-monthly-snapshot-partitions.md).
TIME_SERIES: Final[dict[str, tuple[str, Step]]] = {
    "ingest.market_data": ("timestamp", "month"),
    "engine.portfolio_snapshots": ("timestamp", "month"),
}

HAS_TIMESCALEDB_SQL: Final = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"


def ensure_partitions_function_sql(schema: str) -> str:
    """DDL of `<schema>.ensure_partitions(parent, step, lo, hi)`; returns how many partitions it created."""
    return f"""
CREATE OR REPLACE FUNCTION {schema}.ensure_partitions(parent regclass, step text, lo timestamptz, hi timestamptz)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    bucket timestamptz := date_trunc(step, lo, 'UTC');
    next_bucket timestamptz;
    part_schema text;
    part_base text;
    part_name text;
    created integer := 0;
BEGIN
    -- A hypertable (or any table that is not range-partitioned) needs nothing from us.
    IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = parent) THEN
        RETURN 0;
    END IF;
    SELECT n.nspname, c.relname INTO part_schema, part_base
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = parent;
    -- Concurrent writers of the same table take turns, so no one trips over a half-made partition.
    PERFORM pg_advisory_xact_lock(parent::oid::bigint);
    WHILE bucket <= hi LOOP
        next_bucket := (bucket AT TIME ZONE 'UTC' + ('1 ' || step)::interval) AT TIME ZONE 'UTC';
        part_name := part_base || '_p' || to_char(bucket AT TIME ZONE 'UTC',
                                                 CASE step WHEN 'month' THEN 'YYYY_MM' ELSE 'YYYY_MM_DD' END);
        IF to_regclass(format('%I.%I', part_schema, part_name)) IS NULL THEN
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                           part_schema, part_name, parent, bucket, next_bucket);
            created := created + 1;
        END IF;
        bucket := next_bucket;
    END LOOP;
    RETURN created;
END
$fn$;
"""


def create_time_series_table_sql(table: str, columns_sql: str, has_timescaledb: bool) -> list[str]:
    """CREATE TABLE for a registered time-series table, as a hypertable or a range-partitioned table."""
    time_column, step = TIME_SERIES[table]
    if has_timescaledb:
        return [
            f"CREATE TABLE {table} ({columns_sql})",
            f"SELECT create_hypertable('{table}', by_range('{time_column}', INTERVAL '1 {step}'))",
        ]
    return [f'CREATE TABLE {table} ({columns_sql}) PARTITION BY RANGE ("{time_column}")']


async def ensure_partitions(conn: Any, table: str, lo: datetime, hi: datetime) -> int:
    """Make sure `table` can take rows stamped lo..hi (asyncpg connection); returns partitions created."""
    schema = table.split(".", 1)[0]
    _, step = TIME_SERIES[table]
    created = await conn.fetchval(f"SELECT {schema}.ensure_partitions($1::regclass, $2, $3, $4)", table, step, lo, hi)
    return int(created or 0)


# --- Retention and compression ------------------------------------------------------------------------
#
# Rows older than a cutoff go in two steps, the same on both paths but the first:
#   1. whole partitions past the cutoff are dropped (cheap, no row-by-row delete): TimescaleDB's
#      drop_chunks() on a hypertable, DROP TABLE of each native partition otherwise;
#   2. the rows left before the cutoff (in the boundary partition or chunk) are deleted.
# TimescaleDB's add_retention_policy() only knows "older than an interval from now"; our cutoffs may
# have a fixed floor (market data a valid backtest can request is kept), so the owning service runs
# drop_chunks(older_than => cutoff) itself on its schedule: the same chunk drop the policy would run.

# Compression on TimescaleDB: (segment by, order by, compress chunks older than). market_data is read per
# instrument and timeframe in time order; portfolio snapshots are not compressed: they are chunked by
# market time, so every new backtest writes into old chunks, and results are deleted per result.
COMPRESSION: Final[dict[str, tuple[str, str, str]]] = {
    "ingest.market_data": ("instrument_id, timeframe", '"timestamp"', "90 days"),
}

LOCK_TIMEOUT: Final = "5s"  # a partition drop waits at most this for readers (e.g. a backtest's cursor)

# Native partitions whose upper bound is at or before $2 (the bound is printed by pg_get_expr as a
# timestamptz literal; a DEFAULT partition has none and is never matched).
PARTITIONS_BEFORE_SQL: Final = r"""
SELECT format('%I.%I', n.nspname, c.relname) AS partition, b.upper
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL (
      SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz AS upper
  ) b
 WHERE i.inhparent = $1::regclass AND b.upper <= $2
 ORDER BY b.upper
"""


def drop_chunks_sql(table: str) -> str:
    """TimescaleDB: drop every chunk of `table` whose whole range is before $1 (returns one row per chunk)."""
    _registered(table)
    return f"SELECT drop_chunks('{table}', older_than => $1::timestamptz)"


def delete_before_sql(table: str) -> str:
    """Both paths: the rows before $1 that whole-partition drops left (the boundary partition's)."""
    time_column, _ = _registered(table)
    return f'DELETE FROM {table} WHERE "{time_column}" < $1'


def compression_sql(table: str, has_timescaledb: bool) -> list[str]:
    """TimescaleDB: turn compression on and add its policy; nothing on plain PostgreSQL."""
    _registered(table)
    if not has_timescaledb or table not in COMPRESSION:
        return []
    segment_by, order_by, after = COMPRESSION[table]
    return [
        f"ALTER TABLE {table} SET (timescaledb.compress, timescaledb.compress_segmentby = '{segment_by}', "
        f"timescaledb.compress_orderby = '{order_by}')",
        f"SELECT add_compression_policy('{table}', compress_after => INTERVAL '{after}', if_not_exists => true)",
    ]


def remove_compression_sql(table: str, has_timescaledb: bool) -> list[str]:
    """The way back (a migration's downgrade): no policy, every chunk decompressed, compression off."""
    _registered(table)
    if not has_timescaledb or table not in COMPRESSION:
        return []
    return [
        f"SELECT remove_compression_policy('{table}', if_exists => true)",
        f"SELECT decompress_chunk(c, true) FROM show_chunks('{table}') c",
        f"ALTER TABLE {table} SET (timescaledb.compress = false)",
    ]


def _registered(table: str) -> tuple[str, Step]:
    try:
        return TIME_SERIES[table]
    except KeyError:
        raise ValueError(f"{table} is not a time-series table; known: {', '.join(TIME_SERIES)}") from None


async def purge_before(conn: Any, table: str, cutoff: datetime) -> tuple[int, int]:
    """Remove the rows of `table` stamped before `cutoff`: (partitions or chunks dropped, rows deleted).
    Each partition drop is its own short transaction with a lock timeout, so readers are not stalled."""
    _registered(table)
    has_timescaledb = bool(await conn.fetchval(HAS_TIMESCALEDB_SQL))
    if has_timescaledb:
        dropped = len(await conn.fetch(drop_chunks_sql(table), cutoff))
    else:
        dropped = 0
        for row in await conn.fetch(PARTITIONS_BEFORE_SQL, table, cutoff):
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                await conn.execute(f"DROP TABLE {row['partition']}")
            dropped += 1
    tag = await conn.execute(delete_before_sql(table), cutoff)
    return dropped, int(str(tag).split()[-1])
