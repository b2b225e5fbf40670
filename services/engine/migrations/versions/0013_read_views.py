"""Read views: what other services may read of the engine's tables (reporting and the gateway read
results, trades and snapshots). Readers are granted SELECT on these views only (shared/platform/db/ownership.py),
so the engine may change its tables as long as the views keep their columns.

Revision ID: 0013
Revises: 0009
"""

from alembic import op

from shared.platform.kafka.sql import outbox_read_view_ddl

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None

VIEWS = {
    "v_backtest_results": (
        "backtest_results",
        "id, configuration_id, user_id, status, request, started_at, completed_at, error_message, trades_count, "
        "winning_trades, losing_trades, metrics, warnings, progress_pct, open_trades, open_pnl, "
        "benchmark_instrument_id, data_as_of, series, manifest",
    ),
    "v_trades": (
        "trades",
        "id, backtest_result_id, instrument_id, side, entry_time, entry_price, exit_time, exit_price, quantity, "
        "commission, slippage, pnl, pnl_pct",
    ),
    "v_portfolio_snapshots": (
        "portfolio_snapshots",
        'backtest_result_id, "timestamp", seq, kind, cash_balance, total_value, margin_used, buying_power, positions',
    ),
}


def upgrade() -> None:
    for view, (table, columns) in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW engine.{view} AS SELECT {columns} FROM engine.{table}")
        op.execute(f"COMMENT ON VIEW engine.{view} IS 'what other services read of engine.{table}'")
    op.execute(outbox_read_view_ddl("engine"))  # the outbox's state for the gateway's operators (GET /ops/outbox)


def downgrade() -> None:
    for view in [*VIEWS, "v_outbox"]:
        op.execute(f"DROP VIEW IF EXISTS engine.{view}")
