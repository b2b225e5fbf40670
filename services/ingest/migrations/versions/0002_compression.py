"""market_data compression on TimescaleDB (segmented by instrument and timeframe, chunks older than 90
days); nothing on plain PostgreSQL. Retention is the ingest service's scheduled job (services/ingest/retention.py).

Revision ID: 0002
Revises: 0001
"""

from alembic import context, op

from shared.platform.db.timeseries import compression_sql, remove_compression_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in compression_sql("ingest.market_data", bool(context.config.attributes.get("has_timescaledb"))):
        op.execute(statement)


def downgrade() -> None:
    has_timescaledb = bool(context.config.attributes.get("has_timescaledb"))
    for statement in remove_compression_sql("ingest.market_data", has_timescaledb):
        op.execute(statement)
