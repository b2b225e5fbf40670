"""Import jobs keep how the merge went: rows inserted, updated and unchanged (bars.loaded says so).

Without them a re-import of identical bars read as "0 rows loaded", although every row was valid.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COUNTS = ("rows_inserted", "rows_updated", "rows_unchanged")


def upgrade() -> None:
    for column in COUNTS:
        op.execute(f"ALTER TABLE import_jobs ADD COLUMN {column} bigint NOT NULL DEFAULT 0 CHECK ({column} >= 0)")


def downgrade() -> None:
    for column in COUNTS:
        op.execute(f"ALTER TABLE import_jobs DROP COLUMN {column}")
