"""engine.portfolio_snapshots partitioned by month (was: by day), every partition of the allowed backtest
period made here, once, so no backtest waits for partitions (docs/decisions/0013-monthly-snapshot-partitions.md).

Plain PostgreSQL: the table is rebuilt with monthly range partitions and its rows copied over (a fresh
database has none). TimescaleDB: the hypertable's chunk interval becomes a month; existing daily chunks
stay as they are, new chunks are a month wide.

Revision ID: 0009
Revises: 0008
"""

from datetime import UTC, datetime

from alembic import context, op

from shared.contracts.models.backtest import EARLIEST, LATEST

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Frozen copy of the table's columns as of 0008 (a migration does not follow later edits of 0001).
SNAPSHOT_COLUMNS = """
    backtest_result_id uuid NOT NULL REFERENCES engine.backtest_results (id) ON DELETE CASCADE,
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
COLUMNS = (
    'backtest_result_id, "timestamp", seq, kind, cash_balance, positions, total_value, margin_used, '
    "buying_power, leverage"
)
# Snapshots are stamped in market time, within the period a backtest may request (UTC bounds).
PERIOD_START = datetime(EARLIEST.year, EARLIEST.month, 1, tzinfo=UTC)
PERIOD_END = datetime(LATEST.year, LATEST.month, LATEST.day, 23, 59, 59, tzinfo=UTC)


def upgrade() -> None:
    if context.config.attributes.get("has_timescaledb"):
        op.execute("SELECT set_chunk_time_interval('engine.portfolio_snapshots', INTERVAL '1 month')")
        return
    _rebuild("month")


def downgrade() -> None:
    if context.config.attributes.get("has_timescaledb"):
        op.execute("SELECT set_chunk_time_interval('engine.portfolio_snapshots', INTERVAL '1 day')")
        return
    _rebuild("day")


def _rebuild(step: str) -> None:
    """A new range-partitioned table by `step` in place of the old one, with the old one's rows."""
    op.execute("ALTER TABLE engine.portfolio_snapshots RENAME TO portfolio_snapshots_old")
    op.execute("ALTER TABLE engine.portfolio_snapshots_old RENAME CONSTRAINT portfolio_snapshots_pkey TO old_pkey")
    op.execute("ALTER INDEX engine.portfolio_snapshots_result_time_idx RENAME TO portfolio_snapshots_old_time_idx")
    op.execute(f'CREATE TABLE engine.portfolio_snapshots ({SNAPSHOT_COLUMNS}) PARTITION BY RANGE ("timestamp")')
    # By month, the whole allowed period (72 partitions, made in well under a second); by day (going
    # back), only the days that have rows, as the writers did before.
    if step == "month":
        _ensure(step, f"'{PERIOD_START.isoformat()}'", f"'{PERIOD_END.isoformat()}'")
    _ensure(
        step, 'min("timestamp")', 'max("timestamp")', where="FROM engine.portfolio_snapshots_old HAVING count(*) > 0"
    )
    op.execute(
        f"INSERT INTO engine.portfolio_snapshots ({COLUMNS}) SELECT {COLUMNS} FROM engine.portfolio_snapshots_old"
    )
    op.execute("DROP TABLE engine.portfolio_snapshots_old CASCADE")
    op.execute(
        "CREATE INDEX portfolio_snapshots_result_time_idx "
        'ON engine.portfolio_snapshots (backtest_result_id, "timestamp")'
    )


def _ensure(step: str, lo: str, hi: str, where: str = "") -> None:
    op.execute(
        f"SELECT engine.ensure_partitions('engine.portfolio_snapshots'::regclass, '{step}', "
        f"({lo})::timestamptz, ({hi})::timestamptz) {where}"
    )
