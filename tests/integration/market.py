"""Test data: instruments registered and daily bars loaded through the ingest code."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

import asyncpg
import numpy as np
import pandas as pd

from services.engine.job import BacktestJob
from services.ingest.csv_import import ImportPlan, import_csv
from services.ingest.domain.sessions import SessionTable
from shared.contracts.events import BacktestRequested
from shared.domain.calendars import calendar_for
from shared.platform.db.urls import asyncpg_dsn, role_url


def write_daily_csv(
    path: Path, seed: int, start: str = "2020-01-01", end: str = "2021-12-31", close: np.ndarray | None = None
) -> None:
    """A random walk of daily bars on the NASDAQ sessions from `start` to `end`, or the given closes, one per
    session from `start`."""
    sessions = calendar_for("NASDAQ").sessions_in_range(start, end)
    rng = np.random.default_rng(seed)
    if close is None:
        close = np.round(100 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, len(sessions)))), 2)
    sessions = sessions[: len(close)]
    open_ = np.round(close * (1 + rng.normal(0, 0.003, len(sessions))), 2)
    pd.DataFrame(
        {
            "timestamp": sessions.strftime("%Y-%m-%d"),
            "open": open_,
            "high": np.maximum(open_, close) + 0.3,
            "low": np.minimum(open_, close) - 0.3,
            "close": close,
            "volume": 100_000,
        }
    ).to_csv(path, index=False)


def falling_at_the_cap_closes(seed: int, days: int = 80, fall_day: int = 36, fall: float = 0.04) -> np.ndarray:
    """Daily closes that fall for 25 sessions, then rise (an SMA 5/20 crosses up within a few days on every
    seed), with a fall of `fall` on `fall_day` too short to cross back: a book of many such instruments is
    full up to the margin cap when the fall comes."""
    rng = np.random.default_rng(seed)
    returns = np.where(np.arange(days) < 25, -0.002, 0.006) + rng.normal(0, 0.002, days)
    returns[fall_day] = -fall
    return np.round(100 * np.exp(np.cumsum(returns)), 2)


async def load_daily_symbols(
    admin_url: str,
    folder: Path,
    symbols: tuple[str, ...],
    start: str = "2020-01-01",
    end: str = "2021-12-31",
    closes: dict[str, np.ndarray] | None = None,
    margin_requirement: int = 25,
) -> None:
    """Register SYMBOL.NASDAQ instruments and load daily bars for each (idempotent): a random walk per
    symbol, or the symbol's `closes` from `start`."""
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    ingest = await asyncpg.connect(role_url(admin_url, "ingest", "bts"))
    try:
        for seed, symbol in enumerate(symbols):
            await admin.execute(
                "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
                "trading_hours, margin_requirement) VALUES ($1, $2, 'NASDAQ', 'EQUITY', 'USD', 0.01, 1, '{}', $3) "
                "ON CONFLICT DO NOTHING",
                f"{symbol}.NASDAQ",
                symbol,
                margin_requirement,
            )
            path = folder / f"{symbol}.csv"
            write_daily_csv(path, seed, start, end, (closes or {}).get(symbol))
            plan = ImportPlan(path, f"{symbol}.NASDAQ", "BAR_DAILY", SessionTable(calendar_for("NASDAQ")))
            async with ingest.transaction():
                await import_csv(ingest, plan)
    finally:
        await admin.close()
        await ingest.close()


FX_PAIR = "EUR/USD.IDEALPRO"


def write_minute_fx_csv(path: Path, bars: int, seed: int = 11, start: str = "2022-01-03") -> pd.Timestamp:
    """`bars` one-minute EUR/USD bars on the 24/5 calendar (every minute of every weekday, UTC), from
    `start`; returns the open of the last bar."""
    weeks = bars // (5 * 1440) + 2
    minutes = pd.date_range(start, periods=weeks * 7 * 1440, freq="min", tz="UTC")
    minutes = minutes[minutes.dayofweek < 5][:bars]
    rng = np.random.default_rng(seed)
    close = np.round(1.1 * np.exp(np.cumsum(rng.normal(0.0, 0.0002, bars))), 5)
    open_ = np.round(np.r_[close[0], close[:-1]], 5)
    spread = np.round(np.abs(rng.normal(0, 0.00008, bars)), 5)
    stamps = np.char.add(np.datetime_as_string(minutes.tz_convert(None).to_numpy(), unit="s"), "Z")
    pd.DataFrame(
        {
            "timestamp": stamps,
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": 1_000,
        }
    ).to_csv(path, index=False, float_format="%.5f")
    return minutes[-1]


async def load_minute_fx(admin_url: str, folder: Path, bars: int, seed: int = 11) -> pd.Timestamp:
    """Register EUR/USD on IDEALPRO (24/5) and load `bars` one-minute bars through the ingest code
    (idempotent for the same arguments); returns the open of the last bar."""
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    ingest = await asyncpg.connect(role_url(admin_url, "ingest", "bts"))
    try:
        await admin.execute(
            "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
            "trading_hours, margin_requirement) VALUES ($1, 'EUR/USD', 'IDEALPRO', 'FX', 'USD', 0.00001, 1000, "
            '\'{"timezone": "UTC"}\', 3.33) ON CONFLICT DO NOTHING',
            FX_PAIR,
        )
        path = folder / f"eurusd-{bars}.csv"
        last = write_minute_fx_csv(path, bars, seed)
        plan = ImportPlan(path, FX_PAIR, "BAR_1MIN", SessionTable(calendar_for("IDEALPRO")))
        async with ingest.transaction():
            await import_csv(ingest, plan)
        return last
    finally:
        await admin.close()
        await ingest.close()


def backtest_job(instruments: list[str], benchmark: str, **overrides: object) -> BacktestJob:
    """An engine job with fresh ids: SMA 5/20 on the instruments' daily bars of 2020-2021, 5% per entry,
    IBKR-like costs; `overrides` replace any field."""
    fields: dict[str, object] = {
        "backtest_id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "configuration_id": uuid.uuid4(),
        "strategy_type": "SMA_CROSSOVER",
        "parameters": {"fast_period": 5, "slow_period": 20},
        "instrument_ids": instruments,
        "start_date": date(2020, 1, 1),
        "end_date": date(2021, 12, 31),
        "initial_capital": Decimal(100_000),
        "position_size_pct": Decimal(5),
        "commission_model": {"type": "PER_SHARE", "per_share": "0.005", "minimum": "1.00", "slippage_ticks": 1},
        "benchmark_symbol": benchmark,
    }
    fields.update(overrides)
    return BacktestJob(**fields)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def engine_pool_on(
    admin_url: str, folder: Path, symbols: tuple[str, ...], max_size: int = 2
) -> AsyncIterator[asyncpg.Pool]:
    """The engine's pool on a database holding `symbols`' daily bars (load_daily_symbols)."""
    await load_daily_symbols(admin_url, folder, symbols)
    pool = await asyncpg.create_pool(role_url(admin_url, "engine", "bts"), min_size=1, max_size=max_size)
    try:
        yield pool
    finally:
        await pool.close()


# The second vendor's file differs by 2% on these sessions (both ends included).
CHANGED_FROM, CHANGED_TO = "2020-11-02", "2021-02-26"


def other_vendor(original: Path, target: Path) -> int:
    """The file `original` (written by write_daily_csv) with prices 2% higher in the changed sessions; how many
    sessions changed."""
    frame = pd.read_csv(original)
    inside = (frame["timestamp"] >= CHANGED_FROM) & (frame["timestamp"] <= CHANGED_TO)
    for column in ("open", "high", "low", "close"):
        frame.loc[inside, column] = (frame.loc[inside, column] * 1.02).round(2)
    frame.to_csv(target, index=False)
    return int(inside.sum())


def daily_frame(exchange: str, seed: int, start: str = "2022-01-03", end: str = "2023-12-29") -> pd.DataFrame:
    """Daily opens and closes (a random walk) on the exchange's sessions from `start` to `end`."""
    sessions = calendar_for(exchange).sessions_in_range(start, end)
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, len(sessions))))
    open_ = close * (1 + rng.normal(0, 0.002, len(sessions)))
    return pd.DataFrame({"open": open_, "close": close}, index=sessions)


async def load_daily_listing(admin_url: str, folder: Path, symbol: str, exchange: str, frame: pd.DataFrame) -> None:
    """Register SYMBOL.EXCHANGE and load `frame` (open and close per session) as its daily bars."""
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    ingest = await asyncpg.connect(role_url(admin_url, "ingest", "bts"))
    try:
        await admin.execute(
            "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
            "trading_hours, margin_requirement) VALUES ($1, $2, $3, 'EQUITY', 'USD', 0.01, 1, '{}', 25) "
            "ON CONFLICT DO NOTHING",
            f"{symbol}.{exchange}",
            symbol,
            exchange,
        )
        open_, close = frame["open"].round(2), frame["close"].round(2)
        rows = pd.DataFrame(
            {
                "timestamp": frame.index.strftime("%Y-%m-%d"),
                "open": open_,
                "high": np.maximum(open_, close) + 0.1,
                "low": np.minimum(open_, close) - 0.1,
                "close": close,
                "volume": 100_000,
            }
        )
        path = folder / f"{symbol}.{exchange}.csv"
        rows.to_csv(path, index=False)
        plan = ImportPlan(path, f"{symbol}.{exchange}", "BAR_DAILY", SessionTable(calendar_for(exchange)))
        async with ingest.transaction():
            await import_csv(ingest, plan)
    finally:
        await admin.close()
        await ingest.close()


async def register_owners(database_url: str, requests: Iterable[BacktestRequested]) -> None:
    """Each raw request's user and an ACTIVE strategy of theirs with the request's strategy id, type and
    parameters: what the engine checks a `backtest.requested` of any producer against (REST users get
    both from the gateway). `database_url` is an admin URL."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for request in requests:
            await conn.execute(
                "INSERT INTO api.users (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                request.user_id,
                f"producer-{request.user_id}",
            )
            strategy_id = request.configuration.strategy_id
            await conn.execute(
                "INSERT INTO api.strategies (id, user_id, name, strategy_type, parameters, status) "
                "VALUES ($1, $2, $3, $4, $5::jsonb, 'ACTIVE') ON CONFLICT (id) DO NOTHING",
                strategy_id,
                request.user_id,
                f"raw {strategy_id}",
                request.strategy.strategy_type,
                json.dumps(request.strategy.parameters),
            )
    finally:
        await conn.close()
