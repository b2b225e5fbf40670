"""backtest_results.attempts: how many engine processes started a run (a replica that died is taken over, up
to a bound), run_by: the last of them; and an index to find a backtest's events in the outbox (to send its
terminal event again).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from shared.platform.kafka.sql import outbox_job_index_ddl

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE engine.backtest_results ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0 "
        "CHECK (attempts >= 0)"
    )
    op.execute("ALTER TABLE engine.backtest_results ADD COLUMN IF NOT EXISTS run_by uuid")
    op.execute(outbox_job_index_ddl("engine", "backtest_id"))


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS engine.outbox_backtest_id_idx")
    op.execute("ALTER TABLE engine.backtest_results DROP COLUMN IF EXISTS run_by")
    op.execute("ALTER TABLE engine.backtest_results DROP COLUMN IF EXISTS attempts")
