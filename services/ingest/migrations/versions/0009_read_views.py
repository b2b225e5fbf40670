"""Read views: what other services may read of ingest's tables (the engine and the gateway read bars,
their versions and how a series was adjusted). Readers are granted SELECT on these views only
(shared/platform/db/ownership.py), so ingest may change its tables as long as the views keep their columns.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

from shared.platform.kafka.sql import outbox_read_view_ddl

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BAR = 'instrument_id, timeframe, "timestamp", open, high, low, close, volume, valid_from'
VIEWS = {
    "v_market_data": ("market_data", _BAR),
    "v_market_data_history": ("market_data_history", _BAR + ", valid_to"),
    "v_market_data_versions": (
        "market_data_versions",
        "id, instrument_id, timeframe, recorded_at, inserted, updated, unchanged, first_bar, last_bar",
    ),
    "v_series_adjustment": ("series_adjustment", "instrument_id, timeframe, price_adjustment"),
}


def upgrade() -> None:
    for view, (table, columns) in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW ingest.{view} AS SELECT {columns} FROM ingest.{table}")
        op.execute(f"COMMENT ON VIEW ingest.{view} IS 'what other services read of ingest.{table}'")
    op.execute(outbox_read_view_ddl("ingest"))  # the outbox's state for the gateway's operators (GET /ops/outbox)


def downgrade() -> None:
    for view in [*VIEWS, "v_outbox"]:
        op.execute(f"DROP VIEW IF EXISTS ingest.{view}")
