"""strategy_type is an open set: the registered strategy types (built-ins and installed plugins).

The data model's enum (SMA_CROSSOVER, MEAN_REVERSION, MOMENTUM) was a CHECK on the column; with plugins the
gateway checks that a new strategy's type is registered, and the column keeps only the name's shape.
The status read model also records requests of outside producers, whose type the engine may refuse:
there any non-empty name up to 64 characters is kept, so the FAILED status can show what was asked.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEED_TYPES = "('SMA_CROSSOVER', 'MEAN_REVERSION', 'MOMENTUM')"


def upgrade() -> None:
    op.execute("ALTER TABLE strategies DROP CONSTRAINT strategies_strategy_type_check")
    op.execute(
        "ALTER TABLE strategies ADD CONSTRAINT strategies_strategy_type_check "
        "CHECK (strategy_type ~ '^[A-Z][A-Z0-9_]{0,63}$')"
    )
    op.execute("ALTER TABLE backtest_status DROP CONSTRAINT backtest_status_strategy_type_check")
    op.execute(
        "ALTER TABLE backtest_status ADD CONSTRAINT backtest_status_strategy_type_check "
        "CHECK (length(strategy_type) BETWEEN 1 AND 64)"
    )


def downgrade() -> None:
    for table in ("strategies", "backtest_status"):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_strategy_type_check")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_strategy_type_check "
            f"CHECK (strategy_type IN {SEED_TYPES}) NOT VALID"
        )
