"""One backtest, from request to stored result: the engine's use case.

Validates what needs the data (instruments exist, at least 30 trading days, benchmark present),
runs Nautilus in a worker thread (the event loop keeps heart-beating the consumer group), builds
trades, snapshots and metrics, and stores them in one transaction with the COMPLETED row.
A failure at any point becomes a FAILED result with a message a person can act on, except a
transient one (database or broker away): that propagates, and the consumer runs the job again later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pandas as pd
import structlog

from services.engine import repository
from services.engine.bars import adjusted_bars, load_bars, session_dates, stamp_at_close, trading_days
from services.engine.domain.data_checks import CheckedSeries, data_warnings, session_prices
from services.engine.domain.ledger import Ledger, Snapshot, build_ledger, equity_curve
from services.engine.domain.metrics import performance_metrics
from services.engine.domain.no_trade import CheapestLot, no_trade_warning
from services.engine.domain.progress import LOADED, RAN, MonotonicProgress, RunTracker
from services.engine.domain.runner import InstrumentSpec, MarginCall, RunError, RunInput, RunOutput, run_backtest
from services.engine.domain.strategy_loader import resolve_strategy
from services.engine.input_cache import InputCache
from services.engine.manifest import run_manifest
from services.engine.run_progress import run_with_progress
from services.engine.snapshot_feed import SnapshotFeed
from shared.calendars import UnknownExchangeError, calendar_code, calendar_for
from shared.db.reads import InstrumentRow, benchmark_choice, fetch_instruments, split_dates
from shared.db.types import Connection
from shared.models.enums import PriceAdjustment
from shared.models.no_signal import no_signal_message
from shared.runtime.transient import is_transient

MIN_TRADING_DAYS = 30
THIS_PROCESS = uuid4()  # who runs a result: a run left RUNNING by another process is a takeover
SHARPE_REALISTIC = (-3.0, 5.0)

Progress = Callable[[float, datetime | None], Awaitable[None]]
Announce = Callable[[Connection, "BacktestOutcome"], Awaitable[None]]  # runs in the result's transaction
log = structlog.get_logger()


@dataclass(frozen=True)
class BacktestJob:
    backtest_id: UUID
    user_id: UUID
    configuration_id: UUID
    strategy_type: str
    parameters: dict[str, Any]
    instrument_ids: list[str]
    start_date: date
    end_date: date
    initial_capital: Decimal
    position_size_pct: Decimal
    commission_model: dict[str, Any]
    benchmark_symbol: str
    timeframe: str = "BAR_DAILY"
    price_adjustment: str = "SPLITS"
    request: dict[str, Any] = field(default_factory=dict)
    sweep_id: UUID | None = None  # a sweep's child: its bars are read once per sweep (see bar_cache)
    data_as_of: datetime | None = None  # read the bars as of this system time; None: now (then recorded)
    # Warm-up (walk-forward out-of-sample windows): bars from this date to start_date feed the indicators,
    # never trades; the period's rules (30 trading days, a signal) apply to start_date..end_date only.
    warmup_start: date | None = None

    @property
    def trade_from(self) -> pd.Timestamp | None:
        """The first time the strategy may trade when the job has a warm-up (its bars before it only warm up)."""
        return None if self.warmup_start is None else pd.Timestamp(self.start_date, tz="UTC")


@dataclass
class BacktestOutcome:
    status: str  # COMPLETED / FAILED / SKIPPED (already finished: a redelivery)
    error_message: str | None = None
    metrics: dict[str, Any] | None = None
    trades_count: int = 0  # closed round trips
    winning_trades: int = 0
    losing_trades: int = 0
    open_trades: int = 0  # still open at the end, marked at the last known price
    open_pnl: Decimal = Decimal(0)
    benchmark_instrument_id: str | None = None  # what benchmark_symbol resolved to (None: no benchmark data)
    final_value: Decimal = Decimal(0)
    warnings: list[str] = field(default_factory=list)
    series: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None


class JobRejected(Exception):
    """The request cannot run; the message becomes the FAILED result's error_message."""


def _commission(model: dict[str, Any]) -> tuple[str, dict[str, Decimal], int]:
    kind = str(model.get("type", "PER_SHARE"))
    params = {k: Decimal(str(v)) for k, v in model.items() if k not in {"type", "slippage_ticks"} and v is not None}
    return kind, params, int(model.get("slippage_ticks", 1) or 0)


# instruments, bars, benchmark closes, warnings, and the system time the bars were read as of
Inputs = tuple[dict[str, InstrumentRow], dict[str, pd.DataFrame], pd.Series | None, list[str], datetime]


async def _load(conn: Connection, job: BacktestJob) -> Inputs:
    instruments = await fetch_instruments(conn, job.instrument_ids)
    missing = [i for i in job.instrument_ids if i not in instruments]
    if missing:
        raise JobRejected(f"unknown instrument(s): {', '.join(missing)}")
    bars: dict[str, pd.DataFrame] = {}
    checks: list[str] = []
    async with conn.transaction():
        # Every read of the run goes through the same as-of: a reproduction at this time reads the same bars.
        as_of = job.data_as_of or await repository.database_now(conn)
        for iid in job.instrument_ids:
            first = job.warmup_start or job.start_date
            frame = await load_bars(conn, iid, job.timeframe, first, job.end_date, as_of)
            frame, notes = await adjusted_bars(conn, iid, job.timeframe, frame, PriceAdjustment(job.price_adjustment))
            checks += notes
            days = trading_days(_in_period(frame, job))
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
            splits = await split_dates(conn, iid)
            in_period = _in_period(bars[iid], job)
            checks += _data_checks(job, iid, in_period, calendar, calendar_code(instruments[iid].exchange), splits)
        benchmark, warnings = await _benchmark(conn, job, as_of)
    return instruments, bars, benchmark, warnings + checks, as_of


def _in_period(frame: pd.DataFrame, job: BacktestJob) -> pd.DataFrame:
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


async def _inputs(conn: Connection, job: BacktestJob, cache: InputCache | None) -> Inputs:
    """`_load`, through the cache for a sweep's children."""
    key = None
    if cache is not None and job.sweep_id is not None:
        key = (
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
        found: Inputs | None = cache.get(key)
        if found is not None:
            return found
    loaded = await _load(conn, job)
    if cache is not None and key is not None:
        cache.put(key, loaded)
    return loaded


async def _benchmark(conn: Connection, job: BacktestJob, as_of: datetime) -> tuple[pd.Series | None, list[str]]:
    """The benchmark's daily closes, named by the instrument id `benchmark_symbol` resolves to (the gateway
    resolves it the same way at submission). Unresolved: the default runs on without benchmark metrics
    (a warning), any other name fails the job."""
    choice = await benchmark_choice(conn, job.benchmark_symbol, job.start_date, job.end_date)
    if choice.instrument_id is None:
        if not choice.tolerated:
            raise JobRejected(f"benchmark_symbol {job.benchmark_symbol}: {choice.problem}")
        return None, [f"benchmark {job.benchmark_symbol}: {choice.problem}; benchmark metrics are null"]
    frame = await load_bars(conn, choice.instrument_id, "BAR_DAILY", job.start_date, job.end_date, as_of)
    closes = frame["close"].astype(float).rename(choice.instrument_id)
    closes.index = closes.index.tz_convert(None).normalize()
    return closes, []


def run_input(job: BacktestJob, instruments: dict[str, InstrumentRow], bars: dict[str, pd.DataFrame]) -> RunInput:
    """What Nautilus is given for `job` (the benchmarks run the same input bare)."""
    kind, params, slippage = _commission(job.commission_model)
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
        kind,
        params,
        slippage,
        job.trade_from,
    )


def _compute(
    job: BacktestJob,
    instruments: dict[str, InstrumentRow],
    bars: dict[str, pd.DataFrame],
    benchmark: pd.Series | None,
    tracker: RunTracker | None = None,
    feed: SnapshotFeed | None = None,
) -> tuple[BacktestOutcome, Any]:
    """CPU-bound part (Nautilus run, ledger, metrics): runs in a worker thread. With a `feed`, the snapshots
    go into it as rows of engine.portfolio_snapshots while the ledger is built, and it is closed once all
    are in (or the run failed: the exception says why)."""
    try:
        request = run_input(job, instruments, bars)
        output = run_backtest(request, tracker)
        if output.signals == 0:
            raise JobRejected(no_signal_message(job.start_date, job.end_date))
        # Marks: each instrument's last close at or before a snapshot's time, as Nautilus had them; end of
        # day is the last bar of each session.
        closes = output.closes.ffill()
        if job.trade_from is not None:  # the warm-up bars are not part of the result (nothing traded on them)
            closes = closes[closes.index >= job.trade_from]
        daily = closes.groupby(session_dates(pd.DatetimeIndex(closes.index))).tail(1)
        ledger = build_ledger(
            output.fills,
            daily,
            job.initial_capital,
            {s.id: s.margin_pct for s in request.instruments},
            closes,
            sink=_records_into(feed, job.backtest_id),
            batch=repository.SNAPSHOT_BATCH,
        )
    finally:
        if feed is not None:
            feed.close()
    outcome = _summary(job, bars, benchmark, output, daily, ledger)
    if not ledger.trades:  # completed, but nothing to show in the trades: say why
        outcome.warnings.append(_no_trade(job, bars, request, output.signals))
    return outcome, ledger


def _no_trade(job: BacktestJob, bars: dict[str, pd.DataFrame], request: RunInput, signals: int) -> str:
    lots = {spec.id: spec.lot_size for spec in request.instruments}
    cheapest = min(
        (CheapestLot(iid, Decimal(str(frame["close"].min())), lots[iid]) for iid, frame in bars.items()),
        key=lambda lot: lot.cost,
    )
    return no_trade_warning(job.initial_capital, job.position_size_pct, signals, cheapest)


def _records_into(feed: SnapshotFeed | None, result_id: UUID) -> Callable[[list[Snapshot]], None] | None:
    if feed is None:
        return None
    written = 0

    def sink(batch: list[Snapshot]) -> None:
        nonlocal written
        feed.put(repository.snapshot_records(result_id, batch, written))
        written += len(batch)

    return sink


def _summary(
    job: BacktestJob,
    bars: dict[str, pd.DataFrame],
    benchmark: pd.Series | None,
    output: RunOutput,
    daily: pd.DataFrame,
    ledger: Ledger,
) -> BacktestOutcome:
    """Metrics, series, manifest and warnings of a run whose ledger is built."""
    curve = equity_curve(ledger)
    curve.index = session_dates(pd.DatetimeIndex(curve.index))
    # The curve starts from the initial capital the day before the first session.
    start = pd.Series([float(job.initial_capital)], index=[curve.index[0] - timedelta(days=1)])
    curve = pd.concat([start, curve])
    closed = [t.pnl for t in ledger.closed_trades if t.pnl is not None]
    metrics = performance_metrics(curve, float(job.initial_capital), closed, benchmark)
    outcome = BacktestOutcome(
        status="COMPLETED",
        metrics=metrics,
        trades_count=len(closed),
        winning_trades=sum(1 for pnl in closed if pnl > 0),
        losing_trades=sum(1 for pnl in closed if pnl < 0),
        open_trades=len(ledger.open_trades),
        open_pnl=ledger.open_pnl(),
        benchmark_instrument_id=str(benchmark.name) if benchmark is not None else None,
        final_value=ledger.snapshots[-1].total_value if ledger.snapshots else job.initial_capital,
    )
    outcome.series = _series(
        daily.set_axis(session_dates(pd.DatetimeIndex(daily.index))), benchmark, job.benchmark_symbol
    )
    outcome.manifest = run_manifest(job, bars, benchmark, ledger.trades)
    if output.margin_calls:
        outcome.warnings.append(margin_call_warning(output.margin_calls))
    sharpe = metrics["risk"]["sharpe_ratio"]
    if sharpe is not None and not SHARPE_REALISTIC[0] <= sharpe <= SHARPE_REALISTIC[1]:
        outcome.warnings.append(f"sharpe_ratio {sharpe:.2f} is outside the realistic range -3..5")
    return outcome


def _bar_span(bars: dict[str, pd.DataFrame]) -> tuple[datetime, datetime]:
    """First and last bar close of a run: every snapshot is stamped at one of its bars."""
    return (
        min(f.index[0] for f in bars.values()).to_pydatetime(),
        max(f.index[-1] for f in bars.values()).to_pydatetime(),
    )


async def _settled(*tasks: asyncio.Future[Any]) -> None:
    """Let `tasks` finish (a worker thread cannot be stopped) whatever happened; their errors were seen or are
    superseded by the one being raised. A job being cancelled (the service stopping) does not wait for them."""
    for task in tasks:
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
    current = asyncio.current_task()
    if current is None or not current.cancelling():
        await asyncio.wait(tasks)


def margin_call_warning(calls: list[MarginCall]) -> str:
    first = calls[0]
    closed = sum(len(c.closed) for c in calls)
    return (
        f"margin call: {len(calls)} time(s), {closed} position(s) closed to keep total margin within 3x the "
        f"account value (first on {first.ts:%Y-%m-%d}: margin {first.margin_used:.2f} against an account value "
        f"of {first.account_value:.2f}, closed {', '.join(first.closed)})"
    )


def _series(daily: pd.DataFrame, benchmark: pd.Series | None, symbol: str) -> dict[str, Any]:
    """The daily closes the run used, stored with the result for its reports."""

    def dates_of(values: pd.Series | pd.DataFrame) -> Any:
        dates = pd.DatetimeIndex(values.index)
        return (dates.tz_convert(None) if dates.tz is not None else dates).strftime("%Y-%m-%d").to_numpy()

    def pack(values: pd.Series, dates: Any) -> dict[str, list[Any]]:
        present = values.notna().to_numpy()
        return {"dates": dates[present].tolist(), "values": [round(v, 6) for v in values[present].tolist()]}

    days = dates_of(daily)  # the instruments share the index: its dates are formatted once
    series: dict[str, Any] = {"closes": {str(c): pack(daily[c].astype(float), days) for c in daily.columns}}
    if benchmark is not None:
        series["benchmark"] = {
            "symbol": symbol,
            "instrument_id": benchmark.name,
            **pack(benchmark.astype(float), dates_of(benchmark)),
        }
    return series


async def run_job(
    pool: asyncpg.Pool,
    job: BacktestJob,
    on_progress: Progress | None = None,
    announce: Announce | None = None,
    cache: InputCache | None = None,
    max_takeovers: int = 3,
) -> BacktestOutcome:
    """Run `job`; `announce` enqueues the outcome's events in the same transaction as the final status.
    `cache` keeps a sweep's inputs between its children.

    One replica at a time runs a given request (`repository.run_lock`); a request whose replica died
    mid-run (RUNNING, lock free) is run again from the start by whoever holds the lock next, at most
    `max_takeovers` times: then it is FAILED (a run that kills its replica must not kill them all).
    """
    monotonic = MonotonicProgress()

    async def progress(pct: float, eta: datetime | None = None) -> None:
        if job.sweep_id is not None:  # a sweep reports children done/total; steps of a child would triple its events
            return
        pct = monotonic(pct)
        async with pool.acquire() as conn:
            await repository.set_progress(conn, job.backtest_id, pct)
        if on_progress is not None:
            await on_progress(pct, eta)

    async with pool.acquire() as conn, repository.run_lock(conn, job.backtest_id):
        async with conn.transaction():
            status = await repository.claim_result(
                conn, job.backtest_id, job.configuration_id, job.user_id, job.request
            )
            if status in ("COMPLETED", "FAILED"):
                return BacktestOutcome(status="SKIPPED")
            if status == "RUNNING":
                starts = await repository.attempts(conn, job.backtest_id, THIS_PROCESS)
                if starts > max_takeovers + 1:
                    return await _fail(conn, job, announce, takeovers_exhausted(starts - 1, max_takeovers))
                await repository.restart_running(conn, job.backtest_id, datetime.now(UTC), THIS_PROCESS)
            else:
                await repository.mark_running(conn, job.backtest_id, datetime.now(UTC), THIS_PROCESS)
        log.info("backtest started", backtest_id=str(job.backtest_id), taken_over=status == "RUNNING")
        await progress(0.0, None)
        return await _run_claimed(conn, job, progress, announce, cache)


async def _run_claimed(
    conn: Connection, job: BacktestJob, progress: Progress, announce: Announce | None, cache: InputCache | None
) -> BacktestOutcome:
    """The claimed run; `conn` holds the run lock, so the result is written through it."""
    try:
        resolve_strategy(job.strategy_type, job.parameters)  # an unregistered type fails before any data is read
        instruments, bars, benchmark, warnings, as_of = await _inputs(conn, job, cache)
        job = replace(job, data_as_of=as_of)
        await repository.set_data_as_of(conn, job.backtest_id, as_of)
        started = time.monotonic()
        # While Nautilus runs (a worker thread), `conn` makes the snapshots' partitions; once the run is done,
        # the snapshots are stored batch by batch as the ledger makes them, while this process goes on to the
        # metrics and the manifest (see snapshot_feed).
        partitions = asyncio.ensure_future(
            repository.ensure_snapshot_partitions(conn, *_bar_span({i: _in_period(f, job) for i, f in bars.items()}))
        )
        feed = SnapshotFeed(asyncio.get_running_loop())
        compute = asyncio.ensure_future(
            run_with_progress(
                lambda tracker: _compute(job, instruments, bars, benchmark, tracker, feed), progress, first=LOADED
            )
        )
        ran: asyncio.Future[None] | None = None
        try:
            await partitions
            if not await feed.ready():  # the run failed before its first snapshot: its exception says why
                await compute
                raise RuntimeError("the run made no portfolio snapshot")
            # The first snapshot comes after the Nautilus run: reported while the snapshots are stored.
            after_run = (time.monotonic() - started) * (100 - RAN) / (RAN - LOADED)
            ran = asyncio.ensure_future(progress(RAN, datetime.now(UTC) + timedelta(seconds=after_run)))
            async with conn.transaction():
                await repository.copy_snapshot_records(conn, feed.batches())
                outcome, ledger = await compute
                outcome.warnings = warnings + outcome.warnings
                for warning in outcome.warnings:
                    if warning.startswith("margin call"):
                        log.warning("margin call", backtest_id=str(job.backtest_id), detail=warning)
                await ran  # before the result is COMPLETED, so progress never follows completion
                await repository.write_trades(conn, job.backtest_id, ledger.trades)
                await repository.mark_completed(
                    conn,
                    job.backtest_id,
                    datetime.now(UTC),
                    (outcome.trades_count, outcome.winning_trades, outcome.losing_trades),
                    outcome.metrics or {},
                    outcome.warnings,
                    any("sharpe_ratio" in w for w in outcome.warnings),
                    outcome.series,
                    outcome.manifest,
                    open_trades=(outcome.open_trades, outcome.open_pnl),
                    benchmark_instrument_id=outcome.benchmark_instrument_id,
                )
                if announce is not None:
                    await announce(conn, outcome)
            return outcome
        finally:
            await _settled(partitions, compute, *([ran] if ran is not None else []))
    except (JobRejected, RunError) as exc:
        message = str(exc)
    except Exception as exc:
        if is_transient(exc):  # the database or broker is away: not the request's fault, the consumer retries
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"  # a bug: the result says so, the consumer goes on
    async with conn.transaction():
        return await _fail(conn, job, announce, message)


def takeovers_exhausted(started: int, max_takeovers: int) -> str:
    return (
        f"the run was started {started} times and its engine replica stopped each time before it ended "
        f"(taken over at most {max_takeovers} times); run it again, or see the engine's log"
    )


async def _fail(conn: Connection, job: BacktestJob, announce: Announce | None, message: str) -> BacktestOutcome:
    """FAILED with `message`, its event enqueued; inside the caller's transaction."""
    failed = BacktestOutcome(status="FAILED", error_message=message)
    await repository.mark_failed(conn, job.backtest_id, message, datetime.now(UTC), run_manifest(job))
    if announce is not None:
        await announce(conn, failed)
    return failed


@dataclass(frozen=True)
class Refusal:
    """A request that may not run: which result it names, and why."""

    backtest_id: UUID
    user_id: UUID
    configuration_id: UUID
    request: dict[str, Any]
    reason: str


async def refuse_job(pool: asyncpg.Pool, refusal: Refusal, announce: Announce | None = None) -> BacktestOutcome:
    """Write the FAILED result of a refused request and announce it, unless the result is done already (a
    redelivery: SKIPPED)."""
    async with pool.acquire() as conn, repository.run_lock(conn, refusal.backtest_id), conn.transaction():
        ids = (refusal.backtest_id, refusal.configuration_id, refusal.user_id)
        status = await repository.claim_result(conn, *ids, refusal.request)
        if status in ("COMPLETED", "FAILED"):
            return BacktestOutcome(status="SKIPPED")
        failed = BacktestOutcome(status="FAILED", error_message=refusal.reason)
        await repository.mark_failed(conn, refusal.backtest_id, refusal.reason, datetime.now(UTC))
        if announce is not None:
            await announce(conn, failed)
        return failed


async def fail_given_up(pool: asyncpg.Pool, job: BacktestJob, announce: Announce, reason: str) -> bool:
    """The request was given up on (dead-lettered): its result ends FAILED with the reason, unless it ended
    already. True if it was failed here."""
    async with pool.acquire() as conn, conn.transaction():
        status = await repository.claim_result(conn, job.backtest_id, job.configuration_id, job.user_id, job.request)
        if status in ("COMPLETED", "FAILED"):
            return False
        await _fail(conn, job, announce, f"the engine gave up on this request: {reason}")
        return True
