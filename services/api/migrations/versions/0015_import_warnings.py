"""Import jobs carry the data-quality report of what they loaded: the findings (GAP, SPLIT_SUSPECT, STALE;
a few of each kind) and how many of each kind there were in all.

Revision ID: 0015
Revises: 0012
"""

from alembic import op

revision = "0015"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE import_jobs ADD COLUMN IF NOT EXISTS warnings jsonb NOT NULL DEFAULT '[]'::jsonb")
    op.execute("ALTER TABLE import_jobs ADD COLUMN IF NOT EXISTS warning_counts jsonb NOT NULL DEFAULT '{}'::jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE import_jobs DROP COLUMN IF EXISTS warning_counts")
    op.execute("ALTER TABLE import_jobs DROP COLUMN IF EXISTS warnings")
