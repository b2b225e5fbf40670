"""backtest_results.manifest: the run manifest (digests of the bars, configuration, parameters and trades;
engine, NautilusTrader and code versions), served by the gateway and checked by `bts backtest reproduce`.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE engine.backtest_results ADD COLUMN manifest jsonb "
        "CHECK (manifest IS NULL OR jsonb_typeof(manifest) = 'object')"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE engine.backtest_results DROP COLUMN manifest")
