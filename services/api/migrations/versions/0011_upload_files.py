"""Import jobs know their uploaded file: its name in the uploads folder, its size, and when it was deleted.

The file is deleted once its job has ended (after a grace period), and the bytes of a user's files still
on disk count against their upload quota.

Revision ID: 0011
Revises: 0009
"""

from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE import_jobs ADD COLUMN IF NOT EXISTS upload_file text")
    op.execute(
        "ALTER TABLE import_jobs ADD COLUMN IF NOT EXISTS upload_bytes bigint NOT NULL DEFAULT 0 "
        "CHECK (upload_bytes >= 0)"
    )
    op.execute("ALTER TABLE import_jobs ADD COLUMN IF NOT EXISTS upload_deleted_at timestamptz")
    op.execute(
        "CREATE INDEX IF NOT EXISTS import_jobs_upload_on_disk_idx ON import_jobs (user_id) "
        "WHERE upload_file IS NOT NULL AND upload_deleted_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS import_jobs_upload_on_disk_idx")
    for column in ("upload_deleted_at", "upload_bytes", "upload_file"):
        op.execute(f"ALTER TABLE import_jobs DROP COLUMN IF EXISTS {column}")
