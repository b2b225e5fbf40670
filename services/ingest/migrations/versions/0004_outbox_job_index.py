"""An index to find an import job's events in the outbox (to send its terminal event again when the job is
requested again).

Revision ID: 0004
Revises: 0002
"""

from alembic import op

from shared.kafka.sql import outbox_job_index_ddl

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(outbox_job_index_ddl("ingest", "job_id"))


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ingest.outbox_job_id_idx")
