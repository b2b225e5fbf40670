"""Requeueing: how many times the gateway requested a backtest or import job again, and when (its
reconciler backs off); the request of a backtest an outside producer sent; how often a sweep's report was
asked for again; indexes to find a job's request in the outbox.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from shared.platform.kafka.sql import outbox_job_index_ddl

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("backtest_status", "import_jobs")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE api.{table} ADD COLUMN IF NOT EXISTS requeued integer NOT NULL DEFAULT 0")
        op.execute(f"ALTER TABLE api.{table} ADD COLUMN IF NOT EXISTS requeued_at timestamptz")
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {table}_open_idx ON api.{table} (updated_at) "
            "WHERE status IN ('PENDING', 'RUNNING')"
        )
    op.execute(outbox_job_index_ddl("api", "backtest_id"))
    op.execute(outbox_job_index_ddl("api", "job_id"))
    # the request of a backtest an outside producer sent straight to Kafka (the gateway's own are in its outbox)
    op.execute("ALTER TABLE api.backtest_status ADD COLUMN IF NOT EXISTS outside_request jsonb")
    # a finished sweep whose report is missing: its sweep.completed is sent again, a bounded number of times
    op.execute("ALTER TABLE api.sweeps ADD COLUMN IF NOT EXISTS report_requeued integer NOT NULL DEFAULT 0")


def downgrade() -> None:
    op.execute("ALTER TABLE api.sweeps DROP COLUMN IF EXISTS report_requeued")
    op.execute("ALTER TABLE api.backtest_status DROP COLUMN IF EXISTS outside_request")
    op.execute("DROP INDEX IF EXISTS api.outbox_backtest_id_idx")
    op.execute("DROP INDEX IF EXISTS api.outbox_job_id_idx")
    for table in TABLES:
        op.execute(f"DROP INDEX IF EXISTS api.{table}_open_idx")
        op.execute(f"ALTER TABLE api.{table} DROP COLUMN IF EXISTS requeued_at")
        op.execute(f"ALTER TABLE api.{table} DROP COLUMN IF EXISTS requeued")
