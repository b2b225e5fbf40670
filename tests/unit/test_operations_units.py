"""Pure pieces of operations: the market-data cutoff, the retention and compression SQL of both database
paths (the TimescaleDB one cannot run here: its SQL is checked against the documented calls), and the
correlation ids the gateway accepts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.api.correlation import accepted
from services.ingest.domain.retention import market_data_cutoff, years_before
from shared.platform.db.timeseries import (
    PARTITIONS_BEFORE_SQL,
    compression_sql,
    delete_before_sql,
    drop_chunks_sql,
    remove_compression_sql,
)


def test_the_rolling_window_applies_while_it_is_older_than_the_earliest_backtest_start() -> None:
    assert market_data_cutoff(datetime(2022, 6, 15, 9, 30, tzinfo=UTC), 5) == datetime(2017, 6, 15, 9, 30, tzinfo=UTC)
    assert market_data_cutoff(datetime(2023, 12, 31, tzinfo=UTC), 5) == datetime(2018, 12, 31, tzinfo=UTC)


def test_the_window_never_cuts_into_the_range_a_backtest_may_request() -> None:
    floor = datetime(2019, 1, 1, tzinfo=UTC)  # the data model: start_date >= 2019-01-01
    assert market_data_cutoff(datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC), 5) == floor
    assert market_data_cutoff(datetime(2031, 3, 1, tzinfo=UTC), 5) == floor
    assert market_data_cutoff(datetime(2031, 3, 1, tzinfo=UTC), 1) == floor
    # a later earliest start (a deployment that narrows the backtest range) moves the floor with it
    assert market_data_cutoff(datetime(2031, 3, 1, tzinfo=UTC), 5, date(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert market_data_cutoff(datetime(2031, 3, 1, tzinfo=UTC), 2, date(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)


def test_years_before_keeps_the_calendar_day() -> None:
    assert years_before(datetime(2028, 2, 29, 12, tzinfo=UTC), 5) == datetime(2023, 2, 28, 12, tzinfo=UTC)
    assert years_before(datetime(2028, 3, 1, tzinfo=UTC), 4) == datetime(2024, 3, 1, tzinfo=UTC)


def test_timescaledb_drops_whole_chunks_then_both_paths_delete_the_boundary_rows() -> None:
    # drop_chunks(relation, older_than => timestamptz): chunks whose whole range is before the cutoff
    assert drop_chunks_sql("ingest.market_data") == (
        "SELECT drop_chunks('ingest.market_data', older_than => $1::timestamptz)"
    )
    assert delete_before_sql("ingest.market_data") == 'DELETE FROM ingest.market_data WHERE "timestamp" < $1'
    assert delete_before_sql("engine.portfolio_snapshots").startswith("DELETE FROM engine.portfolio_snapshots")
    # plain PostgreSQL: partitions found by their upper bound, at or before the cutoff
    assert "pg_inherits" in PARTITIONS_BEFORE_SQL
    assert "b.upper <= $2" in PARTITIONS_BEFORE_SQL


def test_compression_is_timescaledb_only_and_segmented_by_instrument() -> None:
    assert compression_sql("ingest.market_data", has_timescaledb=False) == []
    assert remove_compression_sql("ingest.market_data", has_timescaledb=False) == []
    # snapshots are written into old (market-time) chunks by every new backtest: not compressed
    assert compression_sql("engine.portfolio_snapshots", has_timescaledb=True) == []
    assert compression_sql("ingest.market_data", has_timescaledb=True) == [
        "ALTER TABLE ingest.market_data SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'instrument_id, timeframe', timescaledb.compress_orderby = '\"timestamp\"')",
        "SELECT add_compression_policy('ingest.market_data', compress_after => INTERVAL '90 days', "
        "if_not_exists => true)",
    ]
    assert remove_compression_sql("ingest.market_data", has_timescaledb=True) == [
        "SELECT remove_compression_policy('ingest.market_data', if_exists => true)",
        "SELECT decompress_chunk(c, true) FROM show_chunks('ingest.market_data') c",
        "ALTER TABLE ingest.market_data SET (timescaledb.compress = false)",
    ]


def test_only_registered_time_series_tables_get_retention_sql() -> None:
    with pytest.raises(ValueError, match="not a time-series table"):
        drop_chunks_sql("api.users; DROP TABLE api.users")


@pytest.mark.parametrize(
    "presented",
    ["3f2b1c9e-8a7d-4e6f-9b0a-1c2d3e4f5a6b", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "req_42:x"],
)
def test_a_sane_correlation_id_is_kept(presented: str) -> None:
    assert accepted(presented) == presented


@pytest.mark.parametrize("presented", [None, "", "has space", "x" * 129, "new\nline", '"quoted"', "-leading"])
def test_anything_else_gets_a_new_correlation_id(presented: str | None) -> None:
    made = accepted(presented)
    assert made != presented
    assert len(made) == 36
