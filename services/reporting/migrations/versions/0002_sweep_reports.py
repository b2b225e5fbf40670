"""sweep_reports: the report of a parameter sweep (or walk-forward), one row per file with its SHA-256.

A sweep is no backtest result, so its reports have their own table (performance_reports rows belong
to one result, as the data model says).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REPORTS = """
CREATE TABLE sweep_reports (
    id uuid PRIMARY KEY,
    sweep_id uuid NOT NULL,
    report_type text NOT NULL CHECK (report_type IN ('HTML', 'CSV', 'JSON')),
    generated_at timestamptz NOT NULL DEFAULT now(),
    file_path text NOT NULL CHECK (length(file_path) > 0),
    content_hash text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT sweep_reports_one_per_file UNIQUE (sweep_id, report_type, file_path)
)
"""


def upgrade() -> None:
    op.execute(REPORTS)
    op.execute("CREATE INDEX sweep_reports_sweep_idx ON sweep_reports (sweep_id)")
    op.execute("CREATE INDEX sweep_reports_generated_at_idx ON sweep_reports (generated_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS reporting.sweep_reports CASCADE")
