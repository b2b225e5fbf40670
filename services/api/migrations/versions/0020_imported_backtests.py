"""Shared results: a backtest imported from another installation's bundle (`bts backtest import`) is listed
with the user's backtests (backtest_status.imported) and served, read-only, from its checked files.

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE api.backtest_status ADD COLUMN IF NOT EXISTS imported boolean NOT NULL DEFAULT false")
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS api.imported_backtests (
            id uuid PRIMARY KEY REFERENCES api.backtest_status (id) ON DELETE CASCADE,
            user_id uuid NOT NULL REFERENCES api.users (id) ON DELETE CASCADE,
            original_id uuid NOT NULL,
            bundle_sha256 text NOT NULL CHECK (bundle_sha256 ~ '^[0-9a-f]{64}$'),
            folder text NOT NULL,
            files jsonb NOT NULL CHECK (jsonb_typeof(files) = 'object'),
            imported_at timestamptz NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS api.imported_backtests")
    op.execute("ALTER TABLE api.backtest_status DROP COLUMN IF EXISTS imported")
