"""Engine tables: backtest results, their trades, and portfolio snapshots (a hypertable by day).

Revision ID: 0001
Revises:
"""

from alembic import context, op

from shared.platform.db.timeseries import create_time_series_table_sql, ensure_partitions_function_sql
from shared.platform.kafka.sql import messaging_ddl

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

METRIC_KEYS = {
    "returns": ("total_return", "cagr", "annualized_return"),
    "risk": ("max_drawdown", "sharpe_ratio", "sortino_ratio", "volatility"),
    "trading": ("win_rate", "avg_win", "avg_loss", "profit_factor", "expectancy"),
    "benchmark": ("benchmark_return", "alpha", "beta"),
}
# "Completed results must have all metrics": every key of the data model's JSON is present.
ALL_METRICS_PRESENT = " AND ".join(
    f"metrics -> '{group}' ?& array[{', '.join(repr(k) for k in keys)}]" for group, keys in METRIC_KEYS.items()
)

RESULTS = f"""
CREATE TABLE backtest_results (
    id uuid PRIMARY KEY,
    configuration_id uuid NOT NULL UNIQUE,
    user_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')),
    request jsonb NOT NULL,
    started_at timestamptz,
    completed_at timestamptz,
    error_message text,
    trades_count integer NOT NULL DEFAULT 0 CHECK (trades_count >= 0),
    winning_trades integer NOT NULL DEFAULT 0 CHECK (winning_trades >= 0),
    losing_trades integer NOT NULL DEFAULT 0 CHECK (losing_trades >= 0),
    metrics jsonb,
    warnings jsonb NOT NULL DEFAULT '[]'::jsonb,
    sharpe_unrealistic boolean NOT NULL DEFAULT false,
    progress_pct numeric NOT NULL DEFAULT 0 CHECK (progress_pct BETWEEN 0 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT backtest_results_counts CHECK (winning_trades + losing_trades <= trades_count),
    CONSTRAINT backtest_results_completed_after_start CHECK (completed_at >= started_at),
    CONSTRAINT backtest_results_failed_has_error CHECK (status <> 'FAILED' OR error_message IS NOT NULL),
    CONSTRAINT backtest_results_completed_has_all_metrics CHECK (
        status <> 'COMPLETED' OR (metrics IS NOT NULL AND completed_at IS NOT NULL AND {ALL_METRICS_PRESENT})
    ),
    CONSTRAINT backtest_results_win_rate CHECK (
        metrics IS NULL OR jsonb_typeof(metrics #> '{{trading,win_rate}}') <> 'number' OR abs(
            (metrics #>> '{{trading,win_rate}}')::numeric
            - CASE WHEN trades_count = 0 THEN 0 ELSE winning_trades::numeric / trades_count END
        ) < 0.000000001
    )
)
"""

# PENDING -> RUNNING -> COMPLETED | FAILED (PENDING -> FAILED for runs rejected before they start);
# a COMPLETED result is immutable, in SQL too.
RESULTS_GUARD = """
CREATE FUNCTION backtest_results_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF OLD.status = 'COMPLETED' THEN
        RAISE EXCEPTION 'backtest result % is COMPLETED and cannot be modified', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status <> OLD.status AND NOT (
        (OLD.status = 'PENDING' AND NEW.status IN ('RUNNING', 'FAILED'))
        OR (OLD.status = 'RUNNING' AND NEW.status IN ('COMPLETED', 'FAILED'))
    ) THEN
        RAISE EXCEPTION 'backtest result % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$fn$
"""

TRADES = """
CREATE TABLE trades (
    id uuid PRIMARY KEY,
    backtest_result_id uuid NOT NULL REFERENCES backtest_results (id) ON DELETE CASCADE,
    instrument_id text NOT NULL,
    entry_time timestamptz NOT NULL,
    entry_price numeric NOT NULL CHECK (entry_price > 0),
    exit_time timestamptz,
    exit_price numeric CHECK (exit_price > 0),
    quantity bigint NOT NULL CHECK (quantity > 0),
    side text NOT NULL CHECK (side IN ('LONG', 'SHORT')),
    commission numeric NOT NULL DEFAULT 0 CHECK (commission >= 0),
    slippage numeric NOT NULL DEFAULT 0 CHECK (slippage >= 0),
    pnl numeric,
    pnl_pct numeric,
    CONSTRAINT trades_exit_time_and_price_together CHECK ((exit_time IS NULL) = (exit_price IS NULL)),
    CONSTRAINT trades_pnl_only_when_closed CHECK (exit_price IS NOT NULL OR (pnl IS NULL AND pnl_pct IS NULL)),
    CONSTRAINT trades_exit_not_before_entry CHECK (exit_time >= entry_time)
)
"""

SNAPSHOT_COLUMNS = """
    backtest_result_id uuid NOT NULL REFERENCES backtest_results (id) ON DELETE CASCADE,
    "timestamp" timestamptz NOT NULL,
    seq integer NOT NULL CHECK (seq >= 0),
    kind text NOT NULL CHECK (kind IN ('TRADE', 'DAILY')),
    cash_balance numeric NOT NULL,
    positions jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(positions) = 'array'),
    total_value numeric NOT NULL,
    margin_used numeric NOT NULL DEFAULT 0 CHECK (margin_used >= 0),
    buying_power numeric NOT NULL,
    leverage numeric NOT NULL DEFAULT 3 CHECK (leverage > 0),
    CONSTRAINT portfolio_snapshots_margin_within_leverage CHECK (margin_used <= total_value * leverage),
    CONSTRAINT portfolio_snapshots_pkey PRIMARY KEY (backtest_result_id, "timestamp", seq)
"""


def upgrade() -> None:
    has_timescaledb = bool(context.config.attributes.get("has_timescaledb"))
    op.execute(RESULTS)
    op.execute(RESULTS_GUARD)
    op.execute(
        "CREATE TRIGGER backtest_results_guard BEFORE UPDATE ON backtest_results "
        "FOR EACH ROW EXECUTE FUNCTION backtest_results_guard()"
    )
    op.execute("CREATE INDEX backtest_results_user_idx ON backtest_results (user_id, created_at DESC)")
    op.execute("CREATE INDEX backtest_results_completed_at_idx ON backtest_results (completed_at)")
    op.execute(TRADES)
    op.execute("CREATE INDEX trades_result_entry_time_idx ON trades (backtest_result_id, entry_time)")
    op.execute(ensure_partitions_function_sql("engine"))
    for statement in create_time_series_table_sql("engine.portfolio_snapshots", SNAPSHOT_COLUMNS, has_timescaledb):
        op.execute(statement)
    op.execute(
        "CREATE INDEX portfolio_snapshots_result_time_idx "
        'ON engine.portfolio_snapshots (backtest_result_id, "timestamp")'
    )
    for statement in messaging_ddl("engine"):
        op.execute(statement)


def downgrade() -> None:
    for table in ("portfolio_snapshots", "trades", "backtest_results"):
        op.execute(f"DROP TABLE IF EXISTS engine.{table} CASCADE")
    op.execute("DROP FUNCTION IF EXISTS engine.backtest_results_guard()")
    op.execute("DROP FUNCTION IF EXISTS engine.ensure_partitions(regclass, text, timestamptz, timestamptz)")
