"""Versioned market data (system time): a bar's current values stay in market_data, stamped with the
time they were written (`valid_from`); a merge that changes a bar first copies its previous values to
market_data_history with the time they were replaced (`valid_to`). One row per import that touched a
series goes to market_data_versions (`bts data history`).

Revision ID: 0006
Revises: 0004
"""

from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: cheap on a compressed hypertable; NULL = written before versioning existed.
    op.execute("ALTER TABLE ingest.market_data ADD COLUMN IF NOT EXISTS valid_from timestamptz")
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS ingest.market_data_history (
            instrument_id text NOT NULL,
            timeframe text NOT NULL,
            "timestamp" timestamptz NOT NULL,
            open numeric NOT NULL,
            high numeric NOT NULL,
            low numeric NOT NULL,
            close numeric NOT NULL,
            volume bigint NOT NULL,
            valid_from timestamptz,
            valid_to timestamptz NOT NULL
        )
        """
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS market_data_history_series_idx "
        'ON ingest.market_data_history (instrument_id, timeframe, "timestamp", valid_to)'
    )
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS ingest.market_data_versions (
            id bigserial PRIMARY KEY,
            instrument_id text NOT NULL,
            timeframe text NOT NULL,
            recorded_at timestamptz NOT NULL,
            inserted integer NOT NULL,
            updated integer NOT NULL,
            unchanged integer NOT NULL,
            first_bar timestamptz NOT NULL,
            last_bar timestamptz NOT NULL
        )
        """
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS market_data_versions_series_idx "
        "ON ingest.market_data_versions (instrument_id, timeframe, recorded_at)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ingest.market_data_versions")
    op.execute("DROP TABLE IF EXISTS ingest.market_data_history")
    op.execute("ALTER TABLE ingest.market_data DROP COLUMN IF EXISTS valid_from")
