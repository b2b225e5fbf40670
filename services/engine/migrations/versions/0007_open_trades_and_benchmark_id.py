"""backtest_results: trades still open at the end (open_trades, their marked open_pnl) beside trades_count,
which counts closed round trips; and the instrument id the benchmark resolved to.

Revision ID: 0007
Revises: 0005
"""

from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE engine.backtest_results "
        "ADD COLUMN IF NOT EXISTS open_trades integer NOT NULL DEFAULT 0 CHECK (open_trades >= 0), "
        "ADD COLUMN IF NOT EXISTS open_pnl numeric NOT NULL DEFAULT 0, "
        "ADD COLUMN IF NOT EXISTS benchmark_instrument_id text"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE engine.backtest_results DROP COLUMN IF EXISTS benchmark_instrument_id, "
        "DROP COLUMN IF EXISTS open_pnl, DROP COLUMN IF EXISTS open_trades"
    )
