"""A job's inputs: its instruments, bars (adjusted, checked, re-stamped at their close) and benchmark closes,
read as of one system time; and the `RunInput` Nautilus is given for them.

Runs read them through a replica's `InputCache`: a sweep's children once per sweep, other runs again only
when the data they are read from changed (`cached_inputs`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import pandas as pd

from services.engine import repository
from services.engine.bars import adjusted_bars, read_spans, session_dates, stamp_at_close, trading_days
from services.engine.data_version import DataVersion, read_data_version
from services.engine.domain.data_checks import CheckedSeries, data_warnings, session_prices
from services.engine.domain.errors import JobRejected
from services.engine.domain.runner import InstrumentSpec, RunInput
from services.engine.input_cache import InputCache, Key
from services.engine.job import BacktestJob
from shared.contracts.models.backtest import MIN_TRADING_DAYS
from shared.contracts.models.corporate_action import split_ex_dates
from shared.contracts.models.enums import PriceAdjustment
from shared.domain.benchmark import BenchmarkChoice
from shared.domain.calendars import UnknownExchangeError, calendar_code, calendar_for
from shared.platform.db.reads import InstrumentRow
from shared.platform.db.types import Connection
from shared.platform.runtime.metrics import BACKTEST_INPUTS


class Inputs(NamedTuple):
    instruments: dict[str, InstrumentRow]
    bars: dict[str, pd.DataFrame]  # per instrument, stamped at the bars' close
    benchmark: pd.Series | None  # daily closes named by the benchmark's instrument id; None: no benchmark data
    warnings: list[str]  # the data checks' findings, and a missing default benchmark
    as_of: datetime  # the system time the bars were read as of


async def load_inputs(conn: Connection, job: BacktestJob) -> Inputs:
    """Everything the run reads from the database, as of one system time (`job.data_as_of` or now)."""
    async with conn.transaction():
        # Every read of the run goes through the same as-of: a reproduction at this time reads the same bars.
        as_of = job.data_as_of or await repository.database_now(conn)
        return await read_inputs(conn, job, as_of, await read_data_version(conn, job))


async def read_inputs(conn: Connection, job: BacktestJob, as_of: datetime, version: DataVersion) -> Inputs:
    """`load_inputs` in the transaction that read `version` (its instruments, benchmark, adjustments and corporate
    actions are used as read; its series are locked)."""
    instruments = version.instruments
    missing = [i for i in job.instrument_ids if i not in instruments]
    if missing:
        raise JobRejected(f"unknown instrument(s): {', '.join(missing)}")
    bars: dict[str, pd.DataFrame] = {}
    checks: list[str] = []
    frames = await read_spans(conn, list(version.spans), as_of)
    traded, benchmark_bars = frames[: len(job.instrument_ids)], frames[len(job.instrument_ids) :]
    mode = PriceAdjustment(job.price_adjustment)
    for iid, frame in zip(job.instrument_ids, traded, strict=True):
        actions = version.actions[iid]
        frame, notes = adjusted_bars(iid, frame, version.adjustment(iid), actions, mode)
        checks += notes
        days = trading_days(in_period(frame, job))
        if days < MIN_TRADING_DAYS:
            raise JobRejected(
                f"{iid} has {days} trading day(s) of {job.timeframe} data between {job.start_date} and "
                f"{job.end_date}; at least {MIN_TRADING_DAYS} are required"
            )
        try:
            calendar = calendar_for(instruments[iid].exchange)
            bars[iid] = stamp_at_close(frame, job.timeframe, calendar)
        except (UnknownExchangeError, ValueError) as exc:
            raise JobRejected(f"{iid}: {exc}") from exc
        period = in_period(bars[iid], job)
        code = calendar_code(instruments[iid].exchange)
        checks += _data_checks(job, iid, period, calendar, code, split_ex_dates(actions))
    benchmark, warnings = _benchmark(job, version.benchmark, benchmark_bars)
    return Inputs(instruments, bars, benchmark, warnings + checks, as_of)


def in_period(frame: pd.DataFrame, job: BacktestJob) -> pd.DataFrame:
    """The bars of the traded period: without the warm-up bars, if any (a bar is in it if it opens or closes
    on or after start_date)."""
    return frame if job.trade_from is None else frame[frame.index >= job.trade_from]


def _data_checks(
    job: BacktestJob, instrument_id: str, stamped: pd.DataFrame, calendar: Any, code: str, splits: frozenset[date]
) -> list[str]:
    """Coverage, gaps and suspected splits of one instrument's bars over the job's period (`code`: the
    calendar's MIC, as the exchange was registered: XNAS, though NASDAQ shares XNYS's sessions; `splits`: the
    ex-dates of its splits on record)."""
    sessions = pd.DatetimeIndex(calendar.sessions)
    sessions = sessions[(sessions >= pd.Timestamp(job.start_date)) & (sessions <= pd.Timestamp(job.end_date))]
    prices = session_prices(stamped, session_dates(pd.DatetimeIndex(stamped.index)))
    series = CheckedSeries(instrument_id, prices, sessions, code, splits)
    return data_warnings(series, job.start_date, job.end_date)


def cache_key(job: BacktestJob) -> Key:
    """What runs that may share their inputs have in common (a sweep's children: their sweep too)."""
    return (
        job.sweep_id,
        tuple(job.instrument_ids),
        job.timeframe,
        job.start_date,
        job.end_date,
        job.benchmark_symbol,
        job.price_adjustment,
        job.data_as_of,
        job.warmup_start,
    )


class Reusable(NamedTuple):
    """Inputs kept for later runs, with the version of the data they were read from."""

    inputs: Inputs
    version: DataVersion


async def cached_inputs(conn: Connection, job: BacktestJob, cache: InputCache | None) -> Inputs:
    """`load_inputs`, through the cache when there is one: a sweep's children read their sweep's inputs once;
    any other run as of now reuses the inputs of an earlier run of the same instruments and period if the data
    they were read from is unchanged. A run as of a given time (a reproduction) reads the database."""
    if cache is None or (job.sweep_id is None and job.data_as_of is not None):
        return _counted("read", await load_inputs(conn, job))
    key = cache_key(job)
    if job.sweep_id is not None:
        found: Inputs | None = cache.get(key)
        if found is not None:
            return _counted("reused", found)
        found = await load_inputs(conn, job)
        cache.put(key, found, _bar_count(found))
        return _counted("read", found)
    async with conn.transaction():
        as_of = await repository.database_now(conn)
        version = await read_data_version(conn, job)
        kept: Reusable | None = cache.get(key)
        if kept is not None and kept.version == version:  # it was written by its as-of, before this one
            return _counted("reused", kept.inputs._replace(as_of=as_of))
        loaded = await read_inputs(conn, job, as_of, version)
        if version.written_by(as_of):  # what was read is the current data, not an earlier version of it
            cache.put(key, Reusable(loaded, version), _bar_count(loaded))
        return _counted("read", loaded)


def _counted(source: str, inputs: Inputs) -> Inputs:
    BACKTEST_INPUTS.labels(source).inc()
    return inputs


def _bar_count(inputs: Inputs) -> int:
    return sum(len(frame) for frame in inputs.bars.values()) + (
        len(inputs.benchmark) if inputs.benchmark is not None else 0
    )


def _benchmark(
    job: BacktestJob, choice: BenchmarkChoice, read: list[pd.DataFrame]
) -> tuple[pd.Series | None, list[str]]:
    """The benchmark's daily closes (`read`: its bars, if it resolved), named by the instrument id
    `benchmark_symbol` resolves to (`choice`: the gateway resolves it the same way at submission). Unresolved:
    the default runs on without benchmark metrics (a warning), any other name fails the job."""
    if choice.instrument_id is None:
        if not choice.tolerated:
            raise JobRejected(f"benchmark_symbol {job.benchmark_symbol}: {choice.problem}")
        return None, [f"benchmark {job.benchmark_symbol}: {choice.problem}; benchmark metrics are null"]
    closes = read[0]["close"].astype(float).rename(choice.instrument_id)
    closes.index = closes.index.tz_convert(None).normalize()
    return closes, []


def run_input(job: BacktestJob, instruments: dict[str, InstrumentRow], bars: dict[str, pd.DataFrame]) -> RunInput:
    """What Nautilus is given for `job` (the benchmarks run the same input bare)."""
    costs = job.commission_model
    params = {
        name: Decimal(value)
        for name, value in costs.model_dump(exclude={"type", "slippage_ticks"}, exclude_none=True).items()
    }
    specs = [
        InstrumentSpec(
            i,
            instruments[i].asset_class,
            instruments[i].currency,
            instruments[i].tick_size,
            instruments[i].lot_size,
            instruments[i].margin_requirement,
        )
        for i in job.instrument_ids
    ]
    return RunInput(
        job.strategy_type,
        job.parameters,
        specs,
        bars,
        job.timeframe,
        job.initial_capital,
        job.position_size_pct,
        costs.type.value,
        params,
        costs.slippage_ticks,
        job.trade_from,
        bars_shared=True,  # the engine's inputs are kept in its InputCache for later runs: read-only
    )
