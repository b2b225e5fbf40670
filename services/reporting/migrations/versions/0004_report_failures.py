"""report_failures: results whose reports could not be made (how often, the last error); the reconciler
tries again up to BTS_REPORT_MAX_ATTEMPTS times, and operators find what is left here.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS reporting.report_failures (
            backtest_result_id uuid PRIMARY KEY,
            attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 0),
            last_error text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS reporting.report_failures")
