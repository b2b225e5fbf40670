"""Read views: what other services may read of the gateway's tables (instruments and corporate actions
for ingest and the engine; users, strategies, sweeps and the status of jobs to check requests and
announce ends; sweeps and their children for reporting). Readers are granted SELECT on these views only
(shared/platform/db/ownership.py): api.users shows its ids, never names or keys.

Revision ID: 0019
Revises: 0016
"""

from alembic import op

from shared.platform.kafka.sql import outbox_read_view_ddl

revision = "0019"
down_revision = "0016"
branch_labels = None
depends_on = None

VIEWS = {
    "v_instruments": (
        "instruments",
        "id, symbol, exchange, asset_class, currency, tick_size, lot_size, trading_hours, margin_requirement",
    ),
    "v_corporate_actions": ("corporate_actions", "instrument_id, type, ex_date, ratio, amount"),
    "v_users": ("users", "id"),
    "v_strategies": ("strategies", "id, user_id, strategy_type, status"),
    "v_sweeps": (
        "sweeps",
        "id, user_id, name, strategy_id, strategy_type, base_parameters, space, configuration, timeframe, "
        "objective, direction, heatmap, prescreen_top_k, walk_forward, report_top, combinations, skipped, total, "
        "status, submitted_at, started_at, completed_at",
    ),
    "v_sweep_children": (
        "sweep_children",
        "sweep_id, n, backtest_id, combination, phase, window_index, parameters, start_date, end_date, state, "
        "prescreen_score, objective_value, metrics, trades_count, error_message, published_at, finished_at",
    ),
    "v_backtest_status": ("backtest_status", "id, status"),
    "v_import_jobs": ("import_jobs", "id, status"),
}


def upgrade() -> None:
    for view, (table, columns) in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW api.{view} AS SELECT {columns} FROM api.{table}")
        op.execute(f"COMMENT ON VIEW api.{view} IS 'what other services read of api.{table}'")
    op.execute(outbox_read_view_ddl("api"))  # the outbox's state for the gateway's operators (GET /ops/outbox)


def downgrade() -> None:
    for view in [*VIEWS, "v_outbox"]:
        op.execute(f"DROP VIEW IF EXISTS api.{view}")
