"""The migrated database: ownership, idempotent migrations, partitions, check constraints, state guards."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from alembic import command

from bts.migrations import migrate_all, migrations_dir
from shared.contracts.models.backtest import EARLIEST, LATEST
from shared.devstack.stack import Endpoints
from shared.platform.db.migrate import alembic_config, applied_revision, head_revision
from shared.platform.db.ownership import SERVICE_NAMES, SERVICES
from shared.platform.db.timeseries import HAS_TIMESCALEDB_SQL, ensure_partitions
from shared.platform.db.urls import asyncpg_dsn, role_url
from shared.platform.kafka.outbox import outbox_status

pytestmark = pytest.mark.integration

ConnectAs = Callable[[str], Awaitable[asyncpg.Connection]]


async def test_every_schema_is_at_head_and_migrating_again_changes_nothing(
    migrated: Endpoints, admin_conn: asyncpg.Connection
) -> None:
    tables_before = await admin_conn.fetch(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1) ORDER BY 1, 2",
        list(SERVICE_NAMES),
    )
    await asyncio.to_thread(migrate_all, migrated.database_url, "bts")  # again: no error, no change
    for service in SERVICE_NAMES:
        assert await applied_revision(admin_conn, service) == head_revision(migrations_dir(service))
    tables_after = await admin_conn.fetch(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1) ORDER BY 1, 2",
        list(SERVICE_NAMES),
    )
    assert tables_after == tables_before


async def test_each_service_owns_its_tables(admin_conn: asyncpg.Connection) -> None:
    for svc in SERVICES.values():
        for table in svc.owns:
            owner = await admin_conn.fetchval(
                "SELECT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relname = $2",
                svc.schema,
                table,
            )
            assert owner == svc.role, f"{svc.schema}.{table} is owned by {owner}"


async def test_seed_indexes_exist(admin_conn: asyncpg.Connection) -> None:
    rows = await admin_conn.fetch(
        "SELECT schemaname || '.' || tablename AS t, indexdef FROM pg_indexes WHERE schemaname = ANY($1)",
        list(SERVICE_NAMES),
    )
    defs = {(r["t"], r["indexdef"].split(" USING ")[1]) for r in rows}
    assert ("engine.trades", "btree (backtest_result_id, entry_time)") in defs
    assert ("ingest.market_data", 'btree (instrument_id, timeframe, "timestamp")') in defs
    assert ("engine.portfolio_snapshots", 'btree (backtest_result_id, "timestamp")') in defs


@pytest.mark.parametrize(
    ("service", "sql", "allowed"),
    [
        # another service's data: through the read views its owner defines, never its tables
        ("ingest", "SELECT count(*) FROM api.v_instruments", True),
        ("ingest", "SELECT count(*) FROM api.instruments", False),
        ("ingest", "SELECT count(*) FROM api.users", False),
        ("ingest", "SELECT count(*) FROM api.v_users", False),
        ("ingest", "INSERT INTO api.instruments (id) VALUES ('X.Y')", False),
        ("ingest", "DELETE FROM engine.backtest_results", False),
        ("engine", "SELECT count(*) FROM ingest.v_market_data", True),
        ("engine", "SELECT count(*) FROM ingest.market_data", False),
        ("engine", "SELECT count(*) FROM api.v_instruments", True),
        ("engine", "DELETE FROM ingest.market_data", False),
        ("engine", "UPDATE api.instruments SET lot_size = 2", False),
        ("engine", "SELECT count(*) FROM api.v_strategies", True),  # requests of any producer are checked
        ("engine", "SELECT count(*) FROM api.v_sweeps", True),
        ("engine", "SELECT count(*) FROM api.strategies", False),
        ("engine", "UPDATE api.strategies SET name = 'x'", False),
        ("engine", "SELECT count(*) FROM api.api_keys", False),
        ("engine", "SELECT count(*) FROM reporting.performance_reports", False),
        ("engine", "SELECT count(*) FROM reporting.v_performance_reports", False),
        ("reporting", "SELECT count(*) FROM engine.v_trades", True),
        ("reporting", "SELECT count(*) FROM engine.v_portfolio_snapshots", True),
        ("reporting", "SELECT count(*) FROM engine.trades", False),
        ("reporting", "DELETE FROM engine.trades", False),
        ("reporting", "SELECT count(*) FROM ingest.v_market_data", False),
        ("api", "SELECT count(*) FROM engine.v_backtest_results", True),
        ("api", "SELECT count(*) FROM engine.backtest_results", False),
        ("api", "SELECT count(*) FROM ingest.v_market_data", True),
        ("api", "SELECT count(*) FROM ingest.import_attempts", False),
        ("api", "SELECT count(*) FROM reporting.v_performance_reports", True),
        ("api", "SELECT count(*) FROM reporting.report_failures", False),
        ("api", "SELECT count(*) FROM engine.v_outbox", True),  # GET /ops/outbox: state and size of each row
        ("api", "SELECT payload FROM engine.outbox", False),
        ("engine", "SELECT count(*) FROM ingest.v_outbox", False),
        ("api", "DELETE FROM engine.backtest_results", False),
        ("api", "DELETE FROM ingest.market_data", False),
        ("ingest", "CREATE TABLE engine.intruder (x int)", False),
    ],
)
async def test_grants_follow_the_ownership_table(connect_as: ConnectAs, service: str, sql: str, allowed: bool) -> None:
    conn = await connect_as(service)
    try:
        if allowed:
            await conn.execute(sql)
        else:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_every_cross_schema_read_is_a_view_of_the_owner(admin_conn: asyncpg.Connection) -> None:
    """What a reader is granted of another schema is a view its owner made in its own migrations."""
    for reader in SERVICES.values():
        for target in reader.reads:
            schema, _, name = target.partition(".")
            row = await admin_conn.fetchrow(
                "SELECT c.relkind::text AS relkind, pg_get_userbyid(c.relowner) AS owner FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                schema,
                name,
            )
            assert row is not None, f"{reader.service} reads {target}, which does not exist"
            assert row["relkind"] == "v", f"{reader.service} reads {target}, which is not a view"
            assert row["owner"] == next(s.role for s in SERVICES.values() if s.schema == schema), target


async def test_the_gateway_reads_every_outbox_through_its_view(connect_as: ConnectAs) -> None:
    """GET /ops/outbox as the gateway's role: each schema's backlog and parked rows, never the payloads."""
    conn = await connect_as("api")
    try:
        for svc in SERVICES.values():
            status = await outbox_status(conn, svc.schema, limit=1)
            assert status.schema_name == svc.schema
            assert status.pending >= 0
    finally:
        await conn.close()


async def _timescaledb(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval(HAS_TIMESCALEDB_SQL))


async def _chunk_interval(conn: asyncpg.Connection, table: str) -> object:
    return await conn.fetchval(
        "SELECT time_interval FROM timescaledb_information.dimensions WHERE hypertable_name = $1", table
    )


async def test_market_data_partitions_are_created_ahead_by_month(connect_as: ConnectAs) -> None:
    conn = await connect_as("ingest")
    try:
        lo, hi = datetime(2019, 1, 15, tzinfo=UTC), datetime(2019, 3, 2, tzinfo=UTC)
        created = await ensure_partitions(conn, "ingest.market_data", lo, hi)
        again = await ensure_partitions(conn, "ingest.market_data", lo, hi)
        assert again == 0
        await conn.execute(
            "INSERT INTO ingest.market_data VALUES ('AAPL.NASDAQ', 'BAR_DAILY', $1, 10, 11, 9, 10.5, 100)",
            datetime(2019, 2, 28, tzinfo=UTC),
        )
        landed = await conn.fetchval(
            "SELECT tableoid::regclass::text FROM ingest.market_data WHERE instrument_id = 'AAPL.NASDAQ' "
            'AND "timestamp" = $1',
            datetime(2019, 2, 28, tzinfo=UTC),
        )
        if await _timescaledb(conn):  # a hypertable: the chunk appeared by itself, a month wide
            assert created == 0
            assert "_hyper_" in landed
            assert str(await _chunk_interval(conn, "market_data")) == "30 days, 0:00:00"
            return
        assert created in (0, 3)  # 0 when an earlier test of this session made them
        parts = await conn.fetch(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'ingest.market_data'::regclass"
        )
        names = {p["relname"] for p in parts}
        assert {"market_data_p2019_01", "market_data_p2019_02", "market_data_p2019_03"} <= names
        assert landed.split(".")[-1] == "market_data_p2019_02"
    finally:
        await conn.execute("DELETE FROM ingest.market_data WHERE instrument_id = 'AAPL.NASDAQ'")
        await conn.close()


async def test_portfolio_snapshots_have_monthly_partitions_for_the_whole_period_from_the_migration(
    connect_as: ConnectAs,
) -> None:
    conn = await connect_as("engine")
    try:
        if await _timescaledb(conn):
            assert str(await _chunk_interval(conn, "portfolio_snapshots")) == "30 days, 0:00:00"
            return
        names = {
            r["relname"]
            for r in await conn.fetch(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'engine.portfolio_snapshots'::regclass"
            )
        }
        period = {
            f"portfolio_snapshots_p{y}_{m:02d}" for y in range(EARLIEST.year, LATEST.year + 1) for m in range(1, 13)
        }
        assert period <= names  # no backtest of the allowed period has a partition to make
        assert not any(len(n) > len("portfolio_snapshots_p2020_03") for n in names)  # none by day
        lo, hi = datetime(EARLIEST.year, 1, 2, 15, tzinfo=UTC), datetime(LATEST.year, 12, 31, 21, tzinfo=UTC)
        assert await ensure_partitions(conn, "engine.portfolio_snapshots", lo, hi) == 0
    finally:
        await conn.close()


# --- check constraints: every data-model rule the database can hold ---------------------------------------

INSTRUMENT = {
    "id": "AAPL.NASDAQ",
    "symbol": "AAPL",
    "exchange": "NASDAQ",
    "asset_class": "EQUITY",
    "currency": "USD",
    "tick_size": 0.01,
    "lot_size": 1,
    "trading_hours": "{}",
    "margin_requirement": 25,
}


async def _insert(conn: asyncpg.Connection, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(f'"{c}"' for c in row)
    params = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    await conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({params})", *row.values())


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"tick_size": 0}, "instruments_tick_size_check"),
        ({"lot_size": 0}, "instruments_lot_size_check"),
        ({"currency": "CHF"}, "instruments_currency_check"),
        ({"asset_class": "CRYPTO"}, "instruments_asset_class_check"),
        ({"id": "AAPL.NYSE"}, "instruments_id_is_symbol_dot_exchange"),
        ({"margin_requirement": 0}, "instruments_margin_requirement_check"),
    ],
)
async def test_instrument_constraints(connect_as: ConnectAs, change: dict[str, Any], constraint: str) -> None:
    conn = await connect_as("api")
    try:
        with pytest.raises(asyncpg.CheckViolationError) as info:
            await _insert(conn, "api.instruments", {**INSTRUMENT, **change})
        assert info.value.constraint_name == constraint
    finally:
        await conn.close()


BAR = {
    "instrument_id": "MSFT.NASDAQ",
    "timeframe": "BAR_DAILY",
    "timestamp": datetime(2019, 1, 2, tzinfo=UTC),
    "open": 100,
    "high": 102,
    "low": 99,
    "close": 101,
    "volume": 1000,
}


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"high": 100.5}, "market_data_high_ge_open_close"),
        ({"low": 100.5}, "market_data_low_le_open_close"),
        ({"volume": -1}, "market_data_volume_check"),
        ({"low": 0}, "market_data_low_check"),  # low > 0 and low <= open, close: all prices > 0
        ({"timeframe": "BAR_2MIN"}, "market_data_timeframe_check"),
    ],
)
async def test_market_data_constraints(connect_as: ConnectAs, change: dict[str, Any], constraint: str) -> None:
    conn = await connect_as("ingest")
    try:
        await ensure_partitions(conn, "ingest.market_data", BAR["timestamp"], BAR["timestamp"])
        with pytest.raises(asyncpg.CheckViolationError) as info:
            await _insert(conn, "ingest.market_data", {**BAR, **change})
        assert info.value.constraint_name == constraint
    finally:
        await conn.close()


def _metrics(win_rate: float) -> str:
    return json.dumps(
        {
            "returns": {"total_return": 0.1, "cagr": 0.05, "annualized_return": 0.05},
            "risk": {"max_drawdown": -0.1, "sharpe_ratio": 1.0, "sortino_ratio": 1.2, "volatility": 0.2},
            "trading": {"win_rate": win_rate, "avg_win": 10, "avg_loss": -5, "profit_factor": 2, "expectancy": 1},
            "benchmark": {"benchmark_return": 0.1, "alpha": 0.0, "beta": 1.0},
        }
    )


async def _new_result(conn: asyncpg.Connection, status: str = "PENDING") -> uuid.UUID:
    result_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO engine.backtest_results (id, configuration_id, user_id, status, request) "
        "VALUES ($1, $2, $3, $4, '{}')",
        result_id,
        uuid.uuid4(),
        uuid.uuid4(),
        status,
    )
    return result_id


async def test_result_state_machine_and_immutability(connect_as: ConnectAs) -> None:
    conn = await connect_as("engine")
    try:
        rid = await _new_result(conn)
        with pytest.raises(asyncpg.CheckViolationError, match="cannot go from PENDING to COMPLETED"):
            await conn.execute("UPDATE engine.backtest_results SET status = 'COMPLETED' WHERE id = $1", rid)
        await conn.execute(
            "UPDATE engine.backtest_results SET status = 'RUNNING', started_at = now() WHERE id = $1", rid
        )
        with pytest.raises(asyncpg.CheckViolationError) as info:  # completed without metrics
            await conn.execute(
                "UPDATE engine.backtest_results SET status = 'COMPLETED', completed_at = now() WHERE id = $1", rid
            )
        assert info.value.constraint_name == "backtest_results_completed_has_all_metrics"
        with pytest.raises(asyncpg.CheckViolationError) as info:  # win rate is not winning / trades
            await conn.execute(
                "UPDATE engine.backtest_results SET status = 'COMPLETED', completed_at = now(), trades_count = 4,"
                " winning_trades = 1, losing_trades = 3, metrics = $2 WHERE id = $1",
                rid,
                _metrics(0.5),
            )
        assert info.value.constraint_name == "backtest_results_win_rate"
        await conn.execute(
            "UPDATE engine.backtest_results SET status = 'COMPLETED', completed_at = now(), trades_count = 4,"
            " winning_trades = 1, losing_trades = 3, metrics = $2 WHERE id = $1",
            rid,
            _metrics(0.25),
        )
        with pytest.raises(asyncpg.CheckViolationError, match="COMPLETED and cannot be modified"):
            await conn.execute("UPDATE engine.backtest_results SET error_message = 'x' WHERE id = $1", rid)
        failed = await _new_result(conn)
        with pytest.raises(asyncpg.CheckViolationError) as info:
            await conn.execute("UPDATE engine.backtest_results SET status = 'FAILED' WHERE id = $1", failed)
        assert info.value.constraint_name == "backtest_results_failed_has_error"
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"entry_price": 0}, "trades_entry_price_check"),
        ({"quantity": 0}, "trades_quantity_check"),
        ({"commission": -1}, "trades_commission_check"),
        ({"pnl": 5}, "trades_pnl_only_when_closed"),
        ({"exit_price": 12}, "trades_exit_time_and_price_together"),
        ({"side": "FLAT"}, "trades_side_check"),
    ],
)
async def test_trade_constraints(connect_as: ConnectAs, change: dict[str, Any], constraint: str) -> None:
    conn = await connect_as("engine")
    try:
        rid = await _new_result(conn)
        trade = {
            "id": uuid.uuid4(),
            "backtest_result_id": rid,
            "instrument_id": "AAPL.NASDAQ",
            "entry_time": datetime(2020, 1, 2, tzinfo=UTC),
            "entry_price": 10,
            "quantity": 5,
            "side": "LONG",
            "commission": 1,
        }
        await _insert(conn, "engine.trades", {**trade, "id": uuid.uuid4()})  # the good row goes in
        with pytest.raises(asyncpg.CheckViolationError) as info:
            await _insert(conn, "engine.trades", {**trade, **change})
        assert info.value.constraint_name == constraint
    finally:
        await conn.close()


async def test_snapshot_margin_within_leverage(connect_as: ConnectAs) -> None:
    conn = await connect_as("engine")
    try:
        rid = await _new_result(conn)
        ts = datetime(2020, 1, 2, tzinfo=UTC)
        await ensure_partitions(conn, "engine.portfolio_snapshots", ts, ts)
        row = {
            "backtest_result_id": rid,
            "timestamp": ts,
            "seq": 0,
            "kind": "DAILY",
            "cash_balance": 1000,
            "total_value": 1000,
            "margin_used": 3000,
            "buying_power": 0,
        }
        await _insert(conn, "engine.portfolio_snapshots", row)
        with pytest.raises(asyncpg.CheckViolationError) as info:
            await _insert(conn, "engine.portfolio_snapshots", {**row, "seq": 1, "margin_used": 3000.01})
        assert info.value.constraint_name == "portfolio_snapshots_margin_within_leverage"
    finally:
        await conn.close()


async def test_strategy_lifecycle_guard_and_unique_name(connect_as: ConnectAs) -> None:
    conn = await connect_as("api")
    try:
        user = uuid.uuid4()
        await conn.execute("INSERT INTO api.users (id, name) VALUES ($1, $2)", user, f"u-{user}")
        sid = uuid.uuid4()
        insert = "INSERT INTO api.strategies (id, user_id, name, strategy_type, parameters) VALUES ($1, $2, $3, $4, $5)"
        await conn.execute(insert, sid, user, "sma", "SMA_CROSSOVER", '{"fast_period": 10, "slow_period": 30}')
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, uuid.uuid4(), user, "sma", "MOMENTUM", '{"lookback": 20}')
        with pytest.raises(asyncpg.CheckViolationError) as info:
            await conn.execute(insert, uuid.uuid4(), user, "empty", "MOMENTUM", "{}")
        assert info.value.constraint_name == "strategies_parameters_check"
        with pytest.raises(asyncpg.CheckViolationError, match="cannot go from DRAFT to ARCHIVED"):
            await conn.execute("UPDATE api.strategies SET status = 'ARCHIVED' WHERE id = $1", sid)
        await conn.execute("UPDATE api.strategies SET status = 'ACTIVE' WHERE id = $1", sid)
        assert await conn.fetchval("SELECT is_active FROM api.strategies WHERE id = $1", sid) is True
        await conn.execute("UPDATE api.strategies SET status = 'ARCHIVED' WHERE id = $1", sid)
        with pytest.raises(asyncpg.CheckViolationError, match="ARCHIVED and read-only"):
            await conn.execute("UPDATE api.strategies SET name = 'renamed' WHERE id = $1", sid)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"start_date": "2018-12-31"}, "backtest_configurations_start_date_check"),
        ({"end_date": "2025-01-01"}, "backtest_configurations_end_date_check"),
        ({"end_date": "2020-01-01"}, "backtest_configurations_end_after_start"),
        ({"initial_capital": 999}, "backtest_configurations_initial_capital_check"),
        ({"position_size_pct": 0.09}, "backtest_configurations_position_size_pct_check"),
        ({"position_size_pct": 10.5}, "backtest_configurations_position_size_pct_check"),
        ({"data_source": "YAHOO"}, "backtest_configurations_data_source_check"),
    ],
)
async def test_configuration_constraints(connect_as: ConnectAs, change: dict[str, Any], constraint: str) -> None:
    conn = await connect_as("api")
    try:
        user, sid = uuid.uuid4(), uuid.uuid4()
        await conn.execute("INSERT INTO api.users (id, name) VALUES ($1, $2)", user, f"u-{user}")
        await conn.execute(
            "INSERT INTO api.strategies (id, user_id, name, strategy_type, parameters) "
            "VALUES ($1, $2, 's', 'MOMENTUM', '{\"lookback\": 5}')",
            sid,
            user,
        )
        row: dict[str, Any] = {
            "id": uuid.uuid4(),
            "user_id": user,
            "strategy_id": sid,
            "instrument_ids": ["AAPL.NASDAQ"],
            "start_date": "2020-01-01",
            "end_date": "2020-06-30",
            "initial_capital": 100000,
            "position_size_pct": 1,
            "commission_model": '{"type": "PER_SHARE"}',
            "data_source": "CSV_FILE",
        }
        row = {**row, **change}
        for key in ("start_date", "end_date"):
            row[key] = datetime.fromisoformat(row[key]).date()
        with pytest.raises(asyncpg.CheckViolationError) as info:
            await _insert(conn, "api.backtest_configurations", row)
        assert info.value.constraint_name == constraint
    finally:
        await conn.close()


async def test_monthly_partitions_migration_keeps_the_snapshots_both_ways(
    migrated: Endpoints, admin_conn: asyncpg.Connection
) -> None:
    """0009 on a database that has snapshots in daily partitions, then back (a database of its own)."""
    if await _timescaledb(admin_conn):
        pytest.skip("TimescaleDB: 0009 only changes the chunk interval")
    name = f"bts_m0009_{uuid.uuid4().hex[:8]}"
    await admin_conn.execute(f"CREATE DATABASE {name}")
    url = migrated.database_url.rsplit("/", 1)[0] + f"/{name}"
    engine_dir = migrations_dir("engine")
    try:
        await asyncio.to_thread(migrate_all, url, "bts")
        await asyncio.to_thread(command.downgrade, alembic_config(engine_dir, url), "0008")
        conn = await asyncpg.connect(asyncpg_dsn(role_url(url, "engine", "bts")))
        try:
            rid = await _new_result(conn)
            days = [datetime(2020, 3, 2, 21, tzinfo=UTC), datetime(2020, 3, 3, 21, tzinfo=UTC)]
            await conn.execute(
                "SELECT engine.ensure_partitions('engine.portfolio_snapshots'::regclass, 'day', $1, $2)", *days
            )
            for seq, ts in enumerate(days):
                await _insert(
                    conn,
                    "engine.portfolio_snapshots",
                    {**_SNAPSHOT, "backtest_result_id": rid, "timestamp": ts, "seq": seq},
                )
            assert await _snapshot_tables(conn) == [
                "portfolio_snapshots_p2020_03_02",
                "portfolio_snapshots_p2020_03_03",
            ]
            await asyncio.to_thread(command.upgrade, alembic_config(engine_dir, url), "head")
            assert await _snapshot_tables(conn) == ["portfolio_snapshots_p2020_03", "portfolio_snapshots_p2020_03"]
            await asyncio.to_thread(command.downgrade, alembic_config(engine_dir, url), "0008")
            assert await _snapshot_tables(conn) == [
                "portfolio_snapshots_p2020_03_02",
                "portfolio_snapshots_p2020_03_03",
            ]
            await conn.execute("DELETE FROM engine.backtest_results WHERE id = $1", rid)  # the cascade still holds
            assert await conn.fetchval("SELECT count(*) FROM engine.portfolio_snapshots") == 0
        finally:
            await conn.close()
    finally:
        await admin_conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


_SNAPSHOT = {"kind": "DAILY", "cash_balance": 1000, "total_value": 1000, "margin_used": 0, "buying_power": 3000}


async def _snapshot_tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch('SELECT tableoid::regclass::text AS t FROM engine.portfolio_snapshots ORDER BY "timestamp"')
    return [r["t"].split(".")[-1] for r in rows]
