"""Cross-service reads: the only queries a service runs on another service's data (read-only grants).

They read the views the owning service defines in its own migrations (`engine.v_backtest_results`,
`ingest.v_market_data`, `api.v_instruments`, ...), never its tables: readers are granted SELECT on those
views only (shared/platform/db/ownership.py), so an owner may change its tables as long as its views keep their
columns. A reader's own tables (reporting's report_failures in `completed_results_without_reports`) are
read directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple
from uuid import UUID

import asyncpg
from asyncpg import Record
from pydantic import BaseModel, ConfigDict, field_validator

from shared.contracts.models.corporate_action import CorporateAction, split_ex_dates
from shared.contracts.models.enums import (
    BarAdjustment,
)
from shared.contracts.sweep_rows import SweepChildRow, SweepRow
from shared.contracts.sweep_rows import decode_json as _json
from shared.domain.benchmark import BenchmarkCandidate, BenchmarkChoice, resolve_benchmark
from shared.platform.db.types import Connection


class InstrumentRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    symbol: str
    exchange: str
    asset_class: str
    currency: str
    tick_size: Decimal
    lot_size: int
    trading_hours: dict[str, Any]
    margin_requirement: Decimal


class BarRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


async def fetch_instruments(conn: Connection, ids: list[str]) -> dict[str, InstrumentRow]:
    """api.instruments by id (readers: ingest, engine)."""
    rows = await conn.fetch(
        "SELECT id, symbol, exchange, asset_class, currency, tick_size, lot_size, trading_hours, margin_requirement "
        "FROM api.v_instruments WHERE id = ANY($1::text[])",
        ids,
    )
    return {r["id"]: InstrumentRow(**{**dict(r), "trading_hours": _json(r["trading_hours"])}) for r in rows}


async def instrument_exchanges(conn: Connection) -> list[str]:
    """The exchanges of the registered instruments, each once (reader: engine, whose warm-up builds their
    calendars)."""
    return [r["exchange"] for r in await conn.fetch("SELECT DISTINCT exchange FROM api.v_instruments ORDER BY 1")]


async def may_write_instrument(conn: Connection, user_id: UUID | None, instrument_id: str) -> bool:
    """Whether `user_id` may register `instrument_id` again or import its bars: an admin, or the user who
    registered it (api.may_write_instrument holds the rule; readers: api, ingest)."""
    if user_id is None:
        return False
    return bool(await conn.fetchval("SELECT api.may_write_instrument($1, $2)", user_id, instrument_id))


def writer_refused(instrument_id: str) -> str:
    """Why a write to a shared instrument was refused (the same words over REST and on ingest.failed)."""
    return (
        f"instrument {instrument_id} is shared by all users and was registered by another user: only its owner "
        "or an admin may register it again or import its bars"
    )


async def benchmark_choice(conn: Connection, name: str, start: date, end: date) -> BenchmarkChoice:
    """The instrument `benchmark_symbol` names for a backtest from `start` to `end` (both included), resolved
    from the instruments whose id or symbol is `name` and their daily bars. Readers: api, engine."""
    lo = datetime.combine(start, time(), UTC)
    hi = datetime.combine(end + timedelta(days=1), time(), UTC)
    rows = await conn.fetch(
        "SELECT i.id, i.symbol, (SELECT count(*) FROM ingest.v_market_data m WHERE m.instrument_id = i.id "
        'AND m.timeframe = \'BAR_DAILY\' AND m."timestamp" >= $2 AND m."timestamp" < $3) AS daily_bars '
        "FROM api.v_instruments i WHERE i.id = $1 OR i.symbol = $1 ORDER BY i.id",
        name,
        lo,
        hi,
    )
    return resolve_benchmark(name, [BenchmarkCandidate(r["id"], r["symbol"], int(r["daily_bars"])) for r in rows])


_SERIES = 'instrument_id = $1 AND timeframe = $2 AND "timestamp" >= $3 AND "timestamp" < $4'
# As of a system time $5: the current bars written by then, and the replaced versions that were valid
# then (valid_from NULL: written before versioning existed, so valid since always).
_WRITTEN_BY = "(valid_from IS NULL OR valid_from <= $5)"


def _as_of(columns: str, series: str) -> str:
    """SELECT `columns` of the bars `series` selects as they were at time $5 (in no order)."""
    return (
        f"SELECT {columns} FROM ingest.v_market_data WHERE {series} AND {_WRITTEN_BY} UNION ALL "
        f"SELECT {columns} FROM ingest.v_market_data_history WHERE {series} AND {_WRITTEN_BY} AND valid_to > $5"
    )


def bars_sql(columns: str, as_of: bool) -> str:
    """SELECT `columns` of one series' bars in [$3, $4) in time order; `as_of`: as they were at time $5."""
    if not as_of:
        return f'SELECT {columns} FROM ingest.v_market_data WHERE {_SERIES} ORDER BY "timestamp"'
    return f'{_as_of(columns, _SERIES)} ORDER BY "timestamp"'


# Several series' spans ($1-$4: instrument ids, timeframes, from, to), numbered from 1 in their order, and the
# bars of the span `s` in a lateral subquery.
_SPANS = (
    "unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) "
    "WITH ORDINALITY AS s(instrument_id, timeframe, lo, hi, n)"
)
_IN_SPAN = 'instrument_id = s.instrument_id AND timeframe = s.timeframe AND "timestamp" >= s.lo AND "timestamp" < s.hi'


def spans_bars_sql(columns: str) -> str:
    """SELECT the span's ordinal (int2) and `columns` of the bars of every span as they were at time $5, in span
    then time order: several series in one statement."""
    return (
        f"SELECT s.n::int2, {columns} FROM {_SPANS} CROSS JOIN LATERAL ({_as_of(BAR_COLUMNS, _IN_SPAN)}) AS m "
        'ORDER BY s.n, m."timestamp"'
    )


BAR_COLUMNS = '"timestamp", open, high, low, close, volume'


async def stream_bars(
    conn: Connection,
    instrument_id: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    batch: int = 50_000,
    as_of: datetime | None = None,
) -> AsyncIterator[list[asyncpg.Record]]:
    """ingest.market_data in time order, a batch of rows at a time (a server-side cursor: memory stays
    flat for years of minute bars); `as_of`: the bars as they were then (None: the current ones; see
    shared.platform.db.bar_versions for reading as of a time just taken). Must run inside a transaction.
    Readers: api."""
    args = (instrument_id, timeframe, start, end) + ((as_of,) if as_of is not None else ())
    cursor = await conn.cursor(bars_sql(BAR_COLUMNS, as_of is not None), *args)
    while rows := await cursor.fetch(batch):
        yield rows


async def count_sessions_with_bars(
    conn: Connection, instrument_id: str, timeframe: str, start: datetime, end: datetime
) -> int:
    """Distinct UTC dates holding bars: the "at least 30 trading days of data" check. Readers: api, engine."""
    value = await conn.fetchval(
        "SELECT count(DISTINCT (\"timestamp\" AT TIME ZONE 'UTC')::date) FROM ingest.v_market_data "
        'WHERE instrument_id = $1 AND timeframe = $2 AND "timestamp" >= $3 AND "timestamp" < $4',
        instrument_id,
        timeframe,
        start,
        end,
    )
    return int(value or 0)


class SeriesDays(BaseModel):
    """One instrument's bars of one timeframe, summed up for the coverage view."""

    model_config = ConfigDict(frozen=True)

    instrument_id: str
    timeframe: str
    exchange: str | None  # None: the instrument is no longer registered
    first_bar: datetime
    last_bar: datetime
    bars: int
    days: list[date]  # UTC dates holding at least one bar, in order
    last_import: datetime | None  # the last import that changed the series (None: before versioning)
    adjustment: str  # how its prices were imported: RAW, or ADJUSTED (by Adj Close)


# Aggregated in SQL, one row per UTC day and series first: millions of minute bars become a few thousand rows.
_SERIES_DAYS_SQL = """
WITH days AS (
    SELECT instrument_id, timeframe, ("timestamp" AT TIME ZONE 'UTC')::date AS day, count(*) AS bars,
           min("timestamp") AS first_bar, max("timestamp") AS last_bar, max(valid_from) AS written
      FROM ingest.v_market_data
     WHERE ($1::text IS NULL OR instrument_id = $1) AND ($2::text IS NULL OR timeframe = $2)
     GROUP BY 1, 2, 3
)
SELECT d.instrument_id, d.timeframe, i.exchange, min(d.first_bar) AS first_bar, max(d.last_bar) AS last_bar,
       sum(d.bars)::int8 AS bars, array_agg(d.day ORDER BY d.day) AS days,
       coalesce((SELECT max(v.recorded_at) FROM ingest.v_market_data_versions v
                  WHERE v.instrument_id = d.instrument_id AND v.timeframe = d.timeframe), max(d.written))
           AS last_import,
       coalesce(a.price_adjustment, 'RAW') AS adjustment
  FROM days d LEFT JOIN api.v_instruments i ON i.id = d.instrument_id
  LEFT JOIN ingest.v_series_adjustment a ON a.instrument_id = d.instrument_id AND a.timeframe = d.timeframe
 GROUP BY d.instrument_id, d.timeframe, i.exchange, a.price_adjustment
 ORDER BY d.instrument_id, d.timeframe
"""


async def fetch_series_days(
    conn: Connection, instrument_id: str | None = None, timeframe: str | None = None
) -> list[SeriesDays]:
    """Every series in ingest.market_data (or the one instrument / timeframe asked for). Readers: api."""
    rows = await conn.fetch(_SERIES_DAYS_SQL, instrument_id, timeframe)
    return [SeriesDays.model_validate(dict(r)) for r in rows]


class DataVersionRow(BaseModel):
    """An import that changed a series (ingest.market_data_versions)."""

    model_config = ConfigDict(frozen=True)

    timeframe: str
    recorded_at: datetime
    inserted: int
    updated: int
    unchanged: int
    first_bar: datetime
    last_bar: datetime


async def fetch_data_versions(conn: Connection, instrument_id: str, timeframe: str | None) -> list[DataVersionRow]:
    """The versions of an instrument's series, oldest first. Readers: api."""
    rows = await conn.fetch(
        "SELECT timeframe, recorded_at, inserted, updated, unchanged, first_bar, last_bar "
        "FROM ingest.v_market_data_versions WHERE instrument_id = $1 AND ($2::text IS NULL OR timeframe = $2) "
        "ORDER BY recorded_at, id",
        instrument_id,
        timeframe,
    )
    return [DataVersionRow.model_validate(dict(r)) for r in rows]


class ResultRow(BaseModel):
    """engine.backtest_results as readers see it (readers: reporting, api)."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    configuration_id: UUID
    user_id: UUID
    status: str
    request: dict[str, Any]
    started_at: datetime | None
    completed_at: datetime | None
    error_message: str | None
    trades_count: int  # closed round trips
    winning_trades: int
    losing_trades: int
    metrics: dict[str, Any] | None
    warnings: list[str]
    progress_pct: Decimal
    open_trades: int = 0  # still open at the end, marked at the last known price
    open_pnl: Decimal = Decimal(0)
    benchmark_instrument_id: str | None = None  # what benchmark_symbol resolved to
    series: dict[str, Any] | None = None  # daily closes the run used: {"closes": {id: {...}}, "benchmark": {...}}
    data_as_of: datetime | None = None  # the bars were read as of this system time


RESULT_COLUMNS = (
    "id, configuration_id, user_id, status, request, started_at, completed_at, error_message, trades_count, "
    "winning_trades, losing_trades, metrics, warnings, progress_pct, open_trades, open_pnl, benchmark_instrument_id, "
    "data_as_of"
)


async def fetch_result(conn: Connection, result_id: UUID, with_series: bool = True) -> ResultRow | None:
    """A result; `with_series=False` leaves out the stored closes (the bulk of the row) for readers that
    show only the metrics."""
    columns = RESULT_COLUMNS + (", series" if with_series else "")
    row = await conn.fetchrow(f"SELECT {columns} FROM engine.v_backtest_results WHERE id = $1", result_id)
    if row is None:
        return None
    values = dict(row)
    for key in ("request", "metrics", "warnings", "series"):
        if key in values:
            values[key] = _json(values[key])
    return ResultRow(**values)


async def result_exists(conn: Connection, result_id: UUID) -> bool:
    """Whether the engine still has the result (retention deletes finished ones after a year). Readers: api."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM engine.v_backtest_results WHERE id = $1)", result_id))


TRADES_SQL = (
    "SELECT instrument_id, side, entry_time, entry_price, exit_time, exit_price, quantity, commission, slippage, pnl, "
    "pnl_pct FROM engine.v_trades WHERE backtest_result_id = $1 ORDER BY entry_time, instrument_id, id"
)


async def fetch_trades(conn: Connection, result_id: UUID) -> list[Record]:
    return list(await conn.fetch(TRADES_SQL, result_id))


async def fetch_snapshots(conn: Connection, result_id: UUID, kind: str | None = None) -> list[Record]:
    """Snapshots in time order; `kind` DAILY for end-of-day ones, TRADE for those at fills."""
    return list(
        await conn.fetch(
            'SELECT "timestamp", seq, kind, cash_balance, total_value, margin_used, buying_power, positions '
            "FROM engine.v_portfolio_snapshots WHERE backtest_result_id = $1 AND ($2::text IS NULL OR kind = $2) "
            'ORDER BY "timestamp", seq',
            result_id,
            kind,
        )
    )


REPORT_COLUMNS = "id, backtest_result_id, report_type, generated_at, file_path, content_hash"


async def fetch_reports(conn: Connection, result_id: UUID) -> list[Record]:
    """reporting.performance_reports of one backtest (readers: api)."""
    return list(
        await conn.fetch(
            f"SELECT {REPORT_COLUMNS} FROM reporting.v_performance_reports WHERE backtest_result_id = $1 "
            "ORDER BY report_type, generated_at",
            result_id,
        )
    )


async def fetch_report(conn: Connection, report_id: UUID) -> Record | None:
    return await conn.fetchrow(f"SELECT {REPORT_COLUMNS} FROM reporting.v_performance_reports WHERE id = $1", report_id)


async def fetch_manifest(conn: Connection, result_id: UUID) -> dict[str, Any] | None:
    """engine.backtest_results.manifest: the run manifest (readers: api). None when absent."""
    value = await conn.fetchval("SELECT manifest FROM engine.v_backtest_results WHERE id = $1", result_id)
    return _json(value) if value is not None else None


async def fetch_daily_equity(conn: Connection, result_id: UUID) -> list[Record]:
    """End-of-day portfolio values (timestamp, total_value) in time order: equity curves (readers: api)."""
    return list(
        await conn.fetch(
            'SELECT "timestamp", total_value FROM engine.v_portfolio_snapshots '
            "WHERE backtest_result_id = $1 AND kind = 'DAILY' ORDER BY \"timestamp\", seq",
            result_id,
        )
    )


SWEEP_REPORT_COLUMNS = "id, sweep_id, report_type, generated_at, file_path, content_hash"


async def fetch_sweep_reports(conn: Connection, sweep_id: UUID) -> list[Record]:
    """reporting.sweep_reports of one sweep (readers: api)."""
    return list(
        await conn.fetch(
            f"SELECT {SWEEP_REPORT_COLUMNS} FROM reporting.v_sweep_reports WHERE sweep_id = $1 "
            "ORDER BY report_type, generated_at",
            sweep_id,
        )
    )


async def fetch_sweep(conn: Connection, sweep_id: UUID) -> SweepRow | None:
    """api.sweeps (readers: reporting)."""
    row = await conn.fetchrow(
        "SELECT id, user_id, name, strategy_id, strategy_type, base_parameters, space, configuration, timeframe, "
        "objective, direction, heatmap, prescreen_top_k, walk_forward, report_top, combinations, skipped, total, "
        "status, submitted_at, started_at, completed_at FROM api.v_sweeps WHERE id = $1",
        sweep_id,
    )
    return SweepRow.model_validate(dict(row)) if row is not None else None


async def fetch_sweep_children(conn: Connection, sweep_id: UUID) -> list[SweepChildRow]:
    """api.sweep_children of one sweep in release order (readers: reporting)."""
    rows = await conn.fetch(
        "SELECT n, backtest_id, combination, phase, window_index, parameters, start_date, end_date, state, "
        "prescreen_score, objective_value, metrics, trades_count, error_message, published_at, finished_at "
        "FROM api.v_sweep_children WHERE sweep_id = $1 ORDER BY n",
        sweep_id,
    )
    return [SweepChildRow.model_validate(dict(r)) for r in rows]


async def user_exists(conn: Connection, user_id: UUID) -> bool:
    """Whether api.users has `user_id` (readers: engine, checking requests of any producer)."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM api.v_users WHERE id = $1)", user_id))


async def fetch_strategy_state(conn: Connection, strategy_id: UUID) -> Record | None:
    """id, user_id, strategy_type, status of api.strategies (readers: engine)."""
    return await conn.fetchrow(
        "SELECT id, user_id, strategy_type, status FROM api.v_strategies WHERE id = $1", strategy_id
    )


async def fetch_sweep_state(conn: Connection, sweep_id: UUID) -> Record | None:
    """id, user_id, status, strategy_id, strategy_type of api.sweeps (readers: engine)."""
    return await conn.fetchrow(
        "SELECT id, user_id, status, strategy_id, strategy_type FROM api.v_sweeps WHERE id = $1", sweep_id
    )


class ResultState(BaseModel):
    """Who a result belongs to and where it stands: what the gateway checks an engine event against."""

    model_config = ConfigDict(frozen=True)

    user_id: UUID
    status: str
    sweep_id: UUID | None
    error_message: str | None
    trades_count: int
    metrics: dict[str, Any] | None

    @field_validator("metrics", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return _json(value)


async def fetch_result_state(conn: Connection, result_id: UUID) -> ResultState | None:
    """engine.backtest_results' owner, status and outcome; None when the engine has no such result (readers: api)."""
    row = await conn.fetchrow(
        "SELECT user_id, status, request->>'sweep_id' AS sweep_id, error_message, trades_count, metrics "
        "FROM engine.v_backtest_results WHERE id = $1",
        result_id,
    )
    return ResultState.model_validate(dict(row)) if row is not None else None


async def completed_results_without_reports(
    conn: Connection, completed_between: tuple[datetime, datetime], max_failures: int, limit: int
) -> list[tuple[UUID, UUID]]:
    """(result id, user id) of COMPLETED results, not a sweep's child, completed in the window, that have no
    report and failed fewer than `max_failures` times in reporting (readers: reporting's reconciler)."""
    rows = await conn.fetch(
        "SELECT r.id, r.user_id FROM engine.v_backtest_results r WHERE r.status = 'COMPLETED' "
        "AND r.request ->> 'sweep_id' IS NULL AND r.completed_at BETWEEN $1 AND $2 "
        "AND NOT EXISTS (SELECT 1 FROM reporting.performance_reports p WHERE p.backtest_result_id = r.id) "
        "AND NOT EXISTS (SELECT 1 FROM reporting.report_failures f WHERE f.backtest_result_id = r.id "
        "AND f.attempts >= $3) ORDER BY r.completed_at LIMIT $4",
        *completed_between,
        max_failures,
        limit,
    )
    return [(r["id"], r["user_id"]) for r in rows]


async def gateway_waits_for(conn: Connection, table: Literal["backtest_status", "import_jobs"], job_id: UUID) -> bool:
    """Whether the gateway still shows job `job_id` PENDING or RUNNING (readers: engine for backtest_status,
    ingest for import_jobs): then the end of a job requested again is announced again, else nothing is."""
    found = await conn.fetchval(
        f"SELECT true FROM api.v_{table} WHERE id = $1 AND status IN ('PENDING', 'RUNNING')", job_id
    )
    return bool(found)


async def fetch_corporate_actions(conn: Connection, instrument_id: str) -> list[CorporateAction]:
    """The splits and cash dividends on record for one instrument, by ex_date (api.corporate_actions;
    readers: api, ingest, engine)."""
    rows = await conn.fetch(
        "SELECT type, ex_date, ratio, amount FROM api.v_corporate_actions WHERE instrument_id = $1 "
        "ORDER BY ex_date, type",
        instrument_id,
    )
    return [CorporateAction.model_validate(dict(row)) for row in rows]


async def split_dates(conn: Connection, instrument_id: str) -> frozenset[date]:
    """The ex-dates of the instrument's splits on record: moves on those days are explained (readers: ingest,
    engine)."""
    return split_ex_dates(await fetch_corporate_actions(conn, instrument_id))


class SeriesSpan(NamedTuple):
    """One series' bars in [lo, hi)."""

    instrument_id: str
    timeframe: str
    lo: datetime
    hi: datetime


class SeriesState(NamedTuple):
    """What a series' current bars in a span are, short of the bars: how many, the latest system time one was
    written at (None: all written before versioning), and how the series was imported."""

    bars: int
    last_written: datetime | None
    price_adjustment: str | None


async def series_states(conn: Connection, spans: list[SeriesSpan]) -> list[SeriesState]:
    """The state of each span's current bars, in the spans' order, in one query (readers: engine). Every write
    stamps the bars it writes with a later system time, so a span whose state is unchanged holds the same bars."""
    if not spans:
        return []
    rows = await conn.fetch(
        f"SELECT m.bars, m.last_written, a.price_adjustment FROM {_SPANS} CROSS JOIN LATERAL ("
        f"SELECT count(*) AS bars, max(valid_from) AS last_written FROM ingest.v_market_data WHERE {_IN_SPAN}) AS m "
        "LEFT JOIN ingest.v_series_adjustment a ON a.instrument_id = s.instrument_id AND a.timeframe = s.timeframe "
        "ORDER BY s.n",
        *(list(column) for column in zip(*spans, strict=True)),
    )
    return [SeriesState(*row) for row in rows]


async def corporate_actions_of(conn: Connection, instrument_ids: list[str]) -> dict[str, list[CorporateAction]]:
    """`fetch_corporate_actions` of several instruments in one query (each listed, with or without actions)."""
    rows = await conn.fetch(
        "SELECT instrument_id, type, ex_date, ratio, amount FROM api.v_corporate_actions "
        "WHERE instrument_id = ANY($1::text[]) ORDER BY instrument_id, ex_date, type",
        instrument_ids,
    )
    actions: dict[str, list[CorporateAction]] = {iid: [] for iid in instrument_ids}
    for row in rows:
        actions[row["instrument_id"]].append(CorporateAction.model_validate({k: row[k] for k in _ACTION_FIELDS}))
    return actions


_ACTION_FIELDS = ("type", "ex_date", "ratio", "amount")


async def fetch_series_adjustment(conn: Connection, instrument_id: str, timeframe: str) -> BarAdjustment:
    """How a bar series was imported (ingest.series_adjustment); RAW when never recorded."""
    stored = await conn.fetchval(
        "SELECT price_adjustment FROM ingest.v_series_adjustment WHERE instrument_id = $1 AND timeframe = $2",
        instrument_id,
        timeframe,
    )
    return BarAdjustment(stored) if stored else BarAdjustment.RAW
