"""Time-series tables: TimescaleDB hypertables when the extension is there, native range partitions if not.

One code path: a migration calls `create_time_series_table`, writers call `ensure_partitions` before
they write a time range. On TimescaleDB the second is a no-op (chunks appear by themselves); on plain
PostgreSQL it creates the missing partitions for the range, ahead of the rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

Step = Literal["month", "day"]

# The seed: market_data chunked by month, portfolio snapshots by day.
TIME_SERIES: Final[dict[str, tuple[str, Step]]] = {
    "ingest.market_data": ("timestamp", "month"),
    "engine.portfolio_snapshots": ("timestamp", "day"),
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
