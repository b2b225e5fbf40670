"""The price adjustment of each stored bar series (instrument, timeframe): RAW or ADJUSTED (scaled by the
file's Adj Close). One row per series, not per bar: ingest refuses an import that would mix the two in a
series, so the row is always true of every bar in it.

Revision ID: 0008
Revises: 0006
"""

from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS ingest.series_adjustment (
            instrument_id text NOT NULL,
            timeframe text NOT NULL,
            price_adjustment text NOT NULL CHECK (price_adjustment IN ('RAW', 'ADJUSTED')),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (instrument_id, timeframe)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ingest.series_adjustment")
