"""engine.cancellations: backtests their owners cancelled (backtest.cancel_requested), read by whichever
replica runs or will run them (docs/api.md, Lifecycle).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS engine.cancellations (
            backtest_id uuid PRIMARY KEY,
            user_id uuid NOT NULL,
            requested_at timestamptz NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS engine.cancellations")
