"""performance_reports: one row per generated file (HTML, CSV, JSON) with its SHA-256.

Revision ID: 0001
Revises:
"""

from alembic import op

from shared.platform.kafka.sql import messaging_ddl

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

REPORTS = """
CREATE TABLE performance_reports (
    id uuid PRIMARY KEY,
    backtest_result_id uuid NOT NULL,
    report_type text NOT NULL CHECK (report_type IN ('HTML', 'CSV', 'JSON')),
    generated_at timestamptz NOT NULL DEFAULT now(),
    file_path text NOT NULL CHECK (length(file_path) > 0),
    content_hash text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    -- A redelivered backtest.completed must not make duplicates.
    CONSTRAINT performance_reports_one_per_file UNIQUE (backtest_result_id, report_type, file_path)
)
"""


def upgrade() -> None:
    op.execute(REPORTS)
    op.execute("CREATE INDEX performance_reports_result_idx ON performance_reports (backtest_result_id)")
    op.execute("CREATE INDEX performance_reports_generated_at_idx ON performance_reports (generated_at)")
    for statement in messaging_ddl("reporting"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS reporting.performance_reports CASCADE")
