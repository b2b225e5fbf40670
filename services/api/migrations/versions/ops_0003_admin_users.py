"""Operators: users with is_admin may call /ops (consumer lag, dead letters and their replay).

Revision ID: ops_0003_admin_users
Revises: 0002
"""

from alembic import op

revision = "ops_0003_admin_users"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE users DROP COLUMN is_admin")
