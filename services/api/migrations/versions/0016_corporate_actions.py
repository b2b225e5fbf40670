"""Corporate actions (splits, cash dividends) per instrument, owned by the gateway beside the instruments they
belong to; import jobs record the price adjustment they were asked for and the notes ingest returned;
backtest configurations record their price adjustment.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS api.corporate_actions (
            instrument_id text NOT NULL REFERENCES api.instruments (id) ON DELETE CASCADE,
            type text NOT NULL CHECK (type IN ('SPLIT', 'DIVIDEND')),
            ex_date date NOT NULL,
            ratio numeric CHECK (ratio > 0),
            amount numeric CHECK (amount > 0),
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (instrument_id, type, ex_date),
            CHECK ((type = 'SPLIT') = (ratio IS NOT NULL) AND (type = 'DIVIDEND') = (amount IS NOT NULL))
        )
        """
    )
    op.execute("ALTER TABLE api.import_jobs ADD COLUMN IF NOT EXISTS price_adjustment text NOT NULL DEFAULT 'RAW'")
    op.execute(
        "ALTER TABLE api.backtest_configurations ADD COLUMN IF NOT EXISTS price_adjustment text NOT NULL "
        "DEFAULT 'SPLITS' CHECK (price_adjustment IN ('NONE', 'SPLITS', 'SPLITS_AND_DIVIDENDS'))"
    )
    op.execute("ALTER TABLE api.import_jobs ADD COLUMN IF NOT EXISTS notes jsonb NOT NULL DEFAULT '[]'::jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE api.backtest_configurations DROP COLUMN IF EXISTS price_adjustment")
    op.execute("ALTER TABLE api.import_jobs DROP COLUMN IF EXISTS notes")
    op.execute("ALTER TABLE api.import_jobs DROP COLUMN IF EXISTS price_adjustment")
    op.execute("DROP TABLE IF EXISTS api.corporate_actions")
