"""The engine's SQL: backtest results, trades and portfolio snapshots (schema `engine`)."""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from shared.platform.db.timeseries import ensure_partitions
from shared.platform.db.types import Connection

if TYPE_CHECKING:  # the ledger (pandas, NautilusTrader) loads with the use case, after the service is ready
    from services.engine.domain.ledger import Holding, Snapshot, TradeRecord


@contextlib.asynccontextmanager
async def run_lock(conn: Connection, result_id: UUID) -> AsyncIterator[None]:
    """Hold the run of `result_id` for as long as `conn`'s session lives (a session advisory lock).

    A redelivered request waits here while another replica runs it (it then finds the result done);
    if that replica dies, PostgreSQL ends its session and frees the lock, and the waiter takes the
    run over. Everything that writes the result goes through `conn`, so a replica that lost its
    session (and with it the lock) can no longer write. Needs session-level connections (no
    transaction-pooling proxy in between).
    """
    key = _lock_key(result_id)
    await conn.execute("SELECT pg_advisory_lock($1)", key)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a lost session has freed it already
            await conn.execute("SELECT pg_advisory_unlock($1)", key)


def _lock_key(result_id: UUID) -> int:
    return int.from_bytes(result_id.bytes[:8], "big", signed=True)


async def claim_result(
    conn: Connection, result_id: UUID, configuration_id: UUID, user_id: UUID, request: dict[str, Any]
) -> str:
    """Create the PENDING row if needed and return the current status (a redelivery finds it done)."""
    await conn.execute(
        "INSERT INTO engine.backtest_results (id, configuration_id, user_id, status, request) "
        "VALUES ($1, $2, $3, 'PENDING', $4::jsonb) ON CONFLICT (id) DO NOTHING",
        result_id,
        configuration_id,
        user_id,
        json.dumps(request, default=str),
    )
    status = await conn.fetchval("SELECT status FROM engine.backtest_results WHERE id = $1 FOR UPDATE", result_id)
    return str(status)


async def result_owner(conn: Connection, result_id: UUID) -> UUID | None:
    """The user a result belongs to; None when there is no such result yet."""
    owner: UUID | None = await conn.fetchval("SELECT user_id FROM engine.backtest_results WHERE id = $1", result_id)
    return owner


async def mark_running(conn: Connection, result_id: UUID, started_at: datetime, run_by: UUID) -> None:
    await conn.execute(
        "UPDATE engine.backtest_results SET status = 'RUNNING', started_at = $2, attempts = 1, run_by = $3 "
        "WHERE id = $1 AND status = 'PENDING'",
        result_id,
        started_at,
        run_by,
    )


async def attempts(conn: Connection, result_id: UUID, run_by: UUID) -> int:
    """How many engine processes started the run, counting `run_by` if it is to start it again."""
    return int(
        await conn.fetchval(
            "SELECT attempts + CASE WHEN run_by IS DISTINCT FROM $2 THEN 1 ELSE 0 END "
            "FROM engine.backtest_results WHERE id = $1",
            result_id,
            run_by,
        )
        or 0
    )


async def restart_running(conn: Connection, result_id: UUID, started_at: datetime, run_by: UUID) -> None:
    """A RUNNING result whose replica died (its lock is free) starts again from the beginning. Only another
    process counts as one more attempt: a retry in the same process (the database was away) does not."""
    await conn.execute(
        "UPDATE engine.backtest_results SET started_at = $2, progress_pct = 0, run_by = $3, "
        "attempts = attempts + CASE WHEN run_by IS DISTINCT FROM $3 THEN 1 ELSE 0 END "
        "WHERE id = $1 AND status = 'RUNNING'",
        result_id,
        started_at,
        run_by,
    )


async def set_progress(conn: Connection, result_id: UUID, progress_pct: float) -> None:
    await conn.execute(
        "UPDATE engine.backtest_results SET progress_pct = $2 WHERE id = $1 AND status = 'RUNNING'",
        result_id,
        progress_pct,
    )


async def mark_failed(
    conn: Connection, result_id: UUID, message: str, at: datetime, manifest: dict[str, Any] | None = None
) -> None:
    await conn.execute(
        "UPDATE engine.backtest_results SET status = 'FAILED', error_message = $2, completed_at = $3, "
        "started_at = COALESCE(started_at, $3), manifest = $4::jsonb "
        "WHERE id = $1 AND status IN ('PENDING', 'RUNNING')",
        result_id,
        message[:4000],
        at,
        json.dumps(manifest) if manifest is not None else None,
    )


async def database_now(conn: Connection) -> datetime:
    """The database's transaction time: the system time market data is versioned by."""
    value: datetime = await conn.fetchval("SELECT now()")
    return value


async def set_data_as_of(conn: Connection, result_id: UUID, as_of: datetime) -> None:
    """Record the system time the run's bars were read as of (a reproduction reads them the same way)."""
    await conn.execute("UPDATE engine.backtest_results SET data_as_of = $2 WHERE id = $1", result_id, as_of)


async def mark_completed(
    conn: Connection,
    result_id: UUID,
    at: datetime,
    counts: tuple[int, int, int],
    metrics: dict[str, Any],
    warnings: list[str],
    sharpe_unrealistic: bool,
    series: dict[str, Any] | None = None,
    manifest: dict[str, Any] | None = None,
    *,
    open_trades: tuple[int, Decimal] = (0, Decimal(0)),
    benchmark_instrument_id: str | None = None,
) -> None:
    """`counts`: closed round trips, winning, losing; `open_trades`: trades still open at the end and their
    marked P&L."""
    trades_count, winning, losing = counts
    still_open, open_pnl = open_trades
    await conn.execute(
        "UPDATE engine.backtest_results SET status = 'COMPLETED', completed_at = $2, trades_count = $3, "
        "winning_trades = $4, losing_trades = $5, metrics = $6::jsonb, warnings = $7::jsonb, "
        "sharpe_unrealistic = $8, progress_pct = 100, series = $9::jsonb, manifest = $10::jsonb, "
        "open_trades = $11, open_pnl = $12, benchmark_instrument_id = $13 WHERE id = $1",
        result_id,
        at,
        trades_count,
        winning,
        losing,
        json.dumps(metrics),
        json.dumps(warnings),
        sharpe_unrealistic,
        json.dumps(series) if series is not None else None,
        json.dumps(manifest) if manifest is not None else None,
        still_open,
        open_pnl,
        benchmark_instrument_id,
    )


async def write_trades(conn: Connection, result_id: UUID, trades: list[TradeRecord]) -> None:
    """Trade ids derive from the result id and position, so a rerun writes the same ids (deterministic)."""
    records = [
        (
            uuid.uuid5(result_id, f"trade-{n}"),
            result_id,
            t.instrument_id,
            t.entry_time.to_pydatetime(),
            t.entry_price,
            t.exit_time.to_pydatetime() if t.exit_time is not None else None,
            t.exit_price,
            t.quantity,
            t.side,
            t.commission,
            t.slippage,
            t.pnl,
            t.pnl_pct,
        )
        for n, t in enumerate(trades)
    ]
    await conn.copy_records_to_table(
        "trades",
        schema_name="engine",
        records=records,
        columns=[
            "id",
            "backtest_result_id",
            "instrument_id",
            "entry_time",
            "entry_price",
            "exit_time",
            "exit_price",
            "quantity",
            "side",
            "commission",
            "slippage",
            "pnl",
            "pnl_pct",
        ],
    )


SNAPSHOT_COLUMNS = [
    "backtest_result_id",
    "timestamp",
    "seq",
    "kind",
    "cash_balance",
    "positions",
    "total_value",
    "margin_used",
    "buying_power",
]
# Rows per COPY statement: each is sent as soon as the ledger has made it, so storing overlaps the ledger's
# work; 256 snapshots span about a year of sessions (a dozen monthly partitions).
SNAPSHOT_BATCH = 256


@functools.lru_cache(maxsize=4096)
def _quoted(text: str) -> str:
    return json.dumps(text)


def _positions_json(positions: tuple[Holding, ...]) -> str:
    return (
        "["
        + ", ".join(
            f'{{"instrument_id": {_quoted(h.instrument_id)}, "quantity": {h.quantity}, "avg_price": "{h.avg_price}", '
            f'"market_price": "{h.market_price}", "market_value": "{h.market_value}"}}'
            for h in positions
        )
        + "]"
    )


def snapshot_records(result_id: UUID, snapshots: list[Snapshot], first_seq: int = 0) -> list[tuple[Any, ...]]:
    """Rows of engine.portfolio_snapshots (plain CPU work: the worker thread that builds the ledger makes them)."""
    return [
        (
            result_id,
            s.timestamp.to_pydatetime(),
            seq,
            s.kind,
            s.cash_balance,
            _positions_json(s.positions),
            s.total_value,
            s.margin_used,
            s.buying_power,
        )
        for seq, s in enumerate(snapshots, first_seq)
    ]


async def ensure_snapshot_partitions(conn: Connection, lo: datetime, hi: datetime) -> int:
    """The partitions for snapshots stamped lo..hi: the migration made those of the allowed period, so this
    only checks them (a no-op on TimescaleDB)."""
    return await ensure_partitions(conn, "engine.portfolio_snapshots", lo, hi)


async def copy_snapshot_records(conn: Connection, batches: AsyncIterable[list[tuple[Any, ...]]]) -> int:
    """One COPY per batch, each as soon as it comes; the partitions must exist. Returns the rows written."""
    written = 0
    async for records in batches:
        await conn.copy_records_to_table(
            "portfolio_snapshots", schema_name="engine", records=records, columns=SNAPSHOT_COLUMNS
        )
        written += len(records)
    return written


async def delete_finished_before(conn: Connection, cutoff: datetime, batch: int = 100) -> list[UUID]:
    """Retention: up to `batch` results that finished (COMPLETED or FAILED) before `cutoff`, deleted with
    their trades and portfolio snapshots (ON DELETE CASCADE). Snapshots are partitioned by market time, not
    by the result's age, so they go per result rather than by partition."""
    rows = await conn.fetch(
        "DELETE FROM engine.backtest_results WHERE id IN (SELECT id FROM engine.backtest_results "
        "WHERE status IN ('COMPLETED', 'FAILED') AND completed_at < $1 ORDER BY completed_at LIMIT $2) RETURNING id",
        cutoff,
        batch,
    )
    return [UUID(str(r["id"])) for r in rows]
