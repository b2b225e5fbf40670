"""backtest_results.data_as_of: the system time of the market data a run read (its bars as of then), so
a reproduction reads the same bars after a re-import.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE engine.backtest_results ADD COLUMN IF NOT EXISTS data_as_of timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE engine.backtest_results DROP COLUMN IF EXISTS data_as_of")
