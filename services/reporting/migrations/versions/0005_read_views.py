"""Read views: what the gateway may read of reporting's tables (the reports of a backtest and of a
sweep). Readers are granted SELECT on these views only (shared/platform/db/ownership.py), so reporting may change
its tables as long as the views keep their columns.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from shared.platform.kafka.sql import outbox_read_view_ddl

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

VIEWS = {
    "v_performance_reports": (
        "performance_reports",
        "id, backtest_result_id, report_type, generated_at, file_path, content_hash",
    ),
    "v_sweep_reports": ("sweep_reports", "id, sweep_id, report_type, generated_at, file_path, content_hash"),
}


def upgrade() -> None:
    for view, (table, columns) in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW reporting.{view} AS SELECT {columns} FROM reporting.{table}")
        op.execute(f"COMMENT ON VIEW reporting.{view} IS 'what other services read of reporting.{table}'")
    op.execute(outbox_read_view_ddl("reporting"))  # the outbox's state for the gateway's operators (GET /ops/outbox)


def downgrade() -> None:
    for view in [*VIEWS, "v_outbox"]:
        op.execute(f"DROP VIEW IF EXISTS reporting.{view}")
