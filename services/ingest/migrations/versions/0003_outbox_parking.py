"""Outbox rows get a status (pending, published, parked), the reason and time a row was parked: a row the
broker refuses for good no longer stops the relay (see shared.platform.kafka.outbox).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from shared.platform.kafka.sql import outbox_parking_ddl

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in outbox_parking_ddl("ingest"):
        op.execute(statement)


def downgrade() -> None:
    for index in ("outbox_pending_idx", "outbox_pending_key_idx", "outbox_parked_idx"):
        op.execute(f"DROP INDEX IF EXISTS ingest.{index}")
    for column in ("status", "parked_reason", "parked_at"):
        op.execute(f"ALTER TABLE ingest.outbox DROP COLUMN IF EXISTS {column}")
