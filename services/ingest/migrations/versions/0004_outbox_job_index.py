"""An index to find an import job's events in the outbox (to send its terminal event again when the job is
requested again); import_attempts: how many ingest processes started a job (an import that kills its process
is given up on after BTS_MAX_TAKEOVERS takeovers).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from shared.platform.kafka.sql import outbox_job_index_ddl

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(outbox_job_index_ddl("ingest", "job_id"))
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS ingest.import_attempts (
            job_id uuid PRIMARY KEY,
            starts integer NOT NULL CHECK (starts >= 1),
            instance uuid NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ingest.import_attempts")
    op.execute("DROP INDEX IF EXISTS ingest.outbox_job_id_idx")
