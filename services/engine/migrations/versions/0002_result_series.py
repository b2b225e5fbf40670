"""backtest_results.series: the daily closes a run used (instruments and benchmark), for reports.

Reports draw prices and the benchmark from what the engine actually used, without reading
market_data themselves (reporting reads only the engine's tables).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE engine.backtest_results ADD COLUMN series jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE engine.backtest_results DROP COLUMN series")
