"""market_data: OHLCV bars, a hypertable by month (TimescaleDB) or monthly range partitions.

Revision ID: 0001
Revises:
"""

from alembic import context, op

from shared.platform.db.timeseries import create_time_series_table_sql, ensure_partitions_function_sql
from shared.platform.kafka.sql import messaging_ddl

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MARKET_DATA_COLUMNS = """
    instrument_id text NOT NULL,
    timeframe text NOT NULL CHECK (timeframe IN ('BAR_1MIN', 'BAR_5MIN', 'BAR_1HOUR', 'BAR_DAILY')),
    "timestamp" timestamptz NOT NULL,
    open numeric NOT NULL CHECK (open > 0),
    high numeric NOT NULL,
    low numeric NOT NULL CHECK (low > 0),
    close numeric NOT NULL CHECK (close > 0),
    volume bigint NOT NULL CHECK (volume >= 0),
    CONSTRAINT market_data_high_ge_open_close CHECK (high >= GREATEST(open, close)),
    CONSTRAINT market_data_low_le_open_close CHECK (low <= LEAST(open, close)),
    -- The data model's composite index (instrument_id, timeframe, timestamp), unique: one bar per slot.
    CONSTRAINT market_data_pkey PRIMARY KEY (instrument_id, timeframe, "timestamp")
"""


def upgrade() -> None:
    has_timescaledb = bool(context.config.attributes.get("has_timescaledb"))
    op.execute(ensure_partitions_function_sql("ingest"))
    for statement in create_time_series_table_sql("ingest.market_data", MARKET_DATA_COLUMNS, has_timescaledb):
        op.execute(statement)
    for statement in messaging_ddl("ingest"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ingest.market_data CASCADE")
    op.execute("DROP FUNCTION IF EXISTS ingest.ensure_partitions(regclass, text, timestamptz, timestamptz)")
