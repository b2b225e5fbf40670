"""The backtest status read model carries what was run (also for requests of outside producers, whose
configuration the gateway never stored), and import jobs remember their uploaded file.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE backtest_status ADD COLUMN strategy_id uuid",
    "ALTER TABLE backtest_status ADD COLUMN strategy_type text "
    "CHECK (strategy_type IN ('SMA_CROSSOVER', 'MEAN_REVERSION', 'MOMENTUM'))",
    "ALTER TABLE backtest_status ADD COLUMN instrument_ids text[] NOT NULL DEFAULT '{}'",
    "ALTER TABLE backtest_status ADD COLUMN start_date date",
    "ALTER TABLE backtest_status ADD COLUMN end_date date",
    "ALTER TABLE import_jobs ADD COLUMN file_name text",
    "CREATE INDEX import_jobs_user_idx ON import_jobs (user_id, submitted_at DESC)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS import_jobs_user_idx")
    op.execute("ALTER TABLE import_jobs DROP COLUMN IF EXISTS file_name")
    for column in ("end_date", "start_date", "instrument_ids", "strategy_type", "strategy_id"):
        op.execute(f"ALTER TABLE backtest_status DROP COLUMN IF EXISTS {column}")
