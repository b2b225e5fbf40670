"""One backtest, from request to stored result: the engine's use case.

Validates what needs the data (instruments exist, at least 30 trading days, benchmark present),
runs Nautilus in a worker thread (the event loop keeps heart-beating the consumer group), builds
trades, snapshots and metrics, and stores them in one transaction with the COMPLETED row.
A failure at any point becomes a FAILED result with a message a person can act on, except a
transient one (database or broker away): that propagates, and the consumer runs the job again later.

`run_backtest_job` takes what it depends on: the store of results (a `RunStore`: PostgreSQL through
`run_job`, an in-memory one in the unit tests), `announce` (enqueues the outcome's event), the clock.
Loading is in `inputs`, the computation in `domain.outcome`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pandas as pd
import structlog

from services.engine import repository
from services.engine.domain.errors import JobRejected
from services.engine.domain.ledger import Ledger, Snapshot
from services.engine.domain.outcome import BacktestOutcome, Benchmark, outcome_of, run_and_book
from services.engine.domain.progress import LOADED, RAN, MonotonicProgress, RunTracker
from services.engine.domain.runner import RunError
from services.engine.domain.strategy_loader import resolve_strategy
from services.engine.input_cache import InputCache
from services.engine.inputs import in_period, run_input
from services.engine.job import BacktestJob, Refusal
from services.engine.manifest import run_manifest
from services.engine.run_progress import run_with_progress
from services.engine.runs_store import PgRunSession, PgRunStore, RunSession, RunStore
from services.engine.snapshot_feed import SnapshotFeed
from shared.platform.db.reads import InstrumentRow
from shared.platform.runtime.transient import is_transient

THIS_PROCESS = uuid4()  # who runs a result: a run left RUNNING by another process is a takeover

Progress = Callable[[float, datetime | None], Awaitable[None]]
# runs in the result's transaction; given the session's `conn` (PostgreSQL: the connection, for the outbox)
Announce = Callable[[Any, BacktestOutcome], Awaitable[None]]
log = structlog.get_logger()


def compute(
    job: BacktestJob,
    instruments: dict[str, InstrumentRow],
    bars: dict[str, pd.DataFrame],
    benchmark: pd.Series | None,
    tracker: RunTracker | None = None,
    feed: SnapshotFeed | None = None,
) -> tuple[BacktestOutcome, Ledger]:
    """CPU-bound part (Nautilus run, ledger, metrics, manifest): runs in a worker thread. With a `feed`, the
    snapshots go into it as rows of engine.portfolio_snapshots while the ledger is built, and it is closed once
    all are in (or the run failed: the exception says why), before the metrics are computed."""
    request = run_input(job, instruments, bars)
    try:
        ran = run_and_book(
            request,
            (job.start_date, job.end_date),
            tracker,
            sink=_records_into(feed, job.backtest_id),
            batch=repository.SNAPSHOT_BATCH,
        )
    finally:
        if feed is not None:
            feed.close()
    outcome = outcome_of(request, Benchmark(job.benchmark_symbol, benchmark), ran)
    outcome.manifest = run_manifest(job, bars, benchmark, ran.ledger.trades)
    return outcome, ran.ledger


def _records_into(feed: SnapshotFeed | None, result_id: UUID) -> Callable[[list[Snapshot]], None] | None:
    if feed is None:
        return None
    written = 0

    def sink(batch: list[Snapshot]) -> None:
        nonlocal written
        feed.put(repository.snapshot_records(result_id, batch, written))
        written += len(batch)

    return sink


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


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


async def run_job(
    pool: asyncpg.Pool,
    job: BacktestJob,
    on_progress: Progress | None = None,
    announce: Announce | None = None,
    cache: InputCache | None = None,
    max_takeovers: int = 3,
) -> BacktestOutcome:
    """`run_backtest_job` on PostgreSQL (the engine's pool)."""
    return await run_backtest_job(
        PgRunStore(pool), job, on_progress, announce, cache=cache, max_takeovers=max_takeovers
    )


async def run_backtest_job(
    store: RunStore,
    job: BacktestJob,
    on_progress: Progress | None = None,
    announce: Announce | None = None,
    *,
    cache: InputCache | None = None,
    max_takeovers: int = 3,
    clock: Clock = utc_now,
    run_by: UUID = THIS_PROCESS,
) -> BacktestOutcome:
    """Run `job`; `announce` enqueues the outcome's events in the same transaction as the final status.
    `cache` keeps a sweep's inputs between its children; `clock` stamps the result; `run_by` names this process.

    One replica at a time runs a given request (`store.session` holds it); a request whose replica died
    mid-run (RUNNING, session gone) is run again from the start by whoever holds it next, at most
    `max_takeovers` times: then it is FAILED (a run that kills its replica must not kill them all).
    """
    monotonic = MonotonicProgress()

    async def progress(pct: float, eta: datetime | None = None) -> None:
        if job.sweep_id is not None:  # a sweep reports children done/total; steps of a child would triple its events
            return
        pct = monotonic(pct)
        await store.set_progress(job.backtest_id, pct)
        if on_progress is not None:
            await on_progress(pct, eta)

    async with store.session(job.backtest_id) as session:
        async with session.transaction():
            status = await session.claim(job)
            if status in ("COMPLETED", "FAILED"):
                return BacktestOutcome(status="SKIPPED")
            if status == "RUNNING":
                starts = await session.attempts(job.backtest_id, run_by)
                if starts > max_takeovers + 1:
                    message = takeovers_exhausted(starts - 1, max_takeovers)
                    return await _fail(session, job, announce, message, clock())
                await session.restart_running(job.backtest_id, clock(), run_by)
            else:
                await session.mark_running(job.backtest_id, clock(), run_by)
        log.info("backtest started", backtest_id=str(job.backtest_id), taken_over=status == "RUNNING")
        # Reported while the inputs load (a database write and a broker round trip the run need not wait for).
        first_report = asyncio.ensure_future(progress(0.0, None))
        try:
            return await _run_claimed(session, job, progress, announce, cache, clock, first_report)
        finally:
            await _settled(first_report)


async def _run_claimed(
    session: RunSession,
    job: BacktestJob,
    progress: Progress,
    announce: Announce | None,
    cache: InputCache | None,
    clock: Clock,
    first_report: asyncio.Future[None],
) -> BacktestOutcome:
    """The claimed run, written through the `session` that holds it; `first_report`: the report of progress 0, which
    every later report and the end follow."""
    try:
        resolve_strategy(job.strategy_type, job.parameters)  # an unregistered type fails before any data is read
        instruments, bars, benchmark, warnings, as_of = await session.inputs(job, cache)
        await first_report
        job = replace(job, data_as_of=as_of)
        await session.set_data_as_of(job.backtest_id, as_of)
        started = time.monotonic()
        # While Nautilus runs (a worker thread), the session makes room for the snapshots (partitions); once the
        # run is done, the snapshots are stored batch by batch as the ledger makes them, while this process goes
        # on to the metrics and the manifest (see snapshot_feed).
        traded = {iid: in_period(frame, job) for iid, frame in bars.items()}  # without warm-up bars
        partitions = asyncio.ensure_future(session.prepare_snapshots(*_bar_span(traded)))
        feed = SnapshotFeed(asyncio.get_running_loop())
        compute_task = asyncio.ensure_future(
            run_with_progress(
                lambda tracker: compute(job, instruments, bars, benchmark, tracker, feed), progress, first=LOADED
            )
        )
        ran: asyncio.Future[None] | None = None
        try:
            await partitions
            if not await feed.ready():  # the run failed before its first snapshot: its exception says why
                await compute_task
                raise RuntimeError("the run made no portfolio snapshot")
            # The first snapshot comes after the Nautilus run: reported while the snapshots are stored.
            after_run = (time.monotonic() - started) * (100 - RAN) / (RAN - LOADED)
            ran = asyncio.ensure_future(progress(RAN, clock() + timedelta(seconds=after_run)))
            async with session.transaction():
                await session.store_snapshots(feed.batches())
                outcome, ledger = await compute_task
                outcome.warnings = warnings + outcome.warnings
                for warning in outcome.warnings:
                    if warning.startswith("margin call"):
                        log.warning("margin call", backtest_id=str(job.backtest_id), detail=warning)
                await ran  # before the result is COMPLETED, so progress never follows completion
                await session.complete(job, outcome, ledger.trades, clock())
                if announce is not None:
                    await announce(session.conn, outcome)
            return outcome
        finally:
            await _settled(partitions, compute_task, *([ran] if ran is not None else []))
    except (JobRejected, RunError) as exc:
        message = str(exc)
    except Exception as exc:
        if is_transient(exc):  # the database or broker is away: not the request's fault, the consumer retries
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"  # a bug: the result says so, the consumer goes on
    await _settled(first_report)
    async with session.transaction():
        return await _fail(session, job, announce, message, clock())


def takeovers_exhausted(started: int, max_takeovers: int) -> str:
    return (
        f"the run was started {started} times and its engine replica stopped each time before it ended "
        f"(taken over at most {max_takeovers} times); run it again, or see the engine's log"
    )


async def _fail(
    session: RunSession, job: BacktestJob, announce: Announce | None, message: str, at: datetime
) -> BacktestOutcome:
    """FAILED with `message`, its event enqueued; inside the caller's transaction."""
    failed = BacktestOutcome(status="FAILED", error_message=message)
    await session.fail(job.backtest_id, message, at, run_manifest(job))
    if announce is not None:
        await announce(session.conn, failed)
    return failed


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
        await _fail(PgRunSession(conn), job, announce, f"the engine gave up on this request: {reason}", utc_now())
        return True
