"""backtest.requested in; backtest.progress out directly, backtest.completed / backtest.failed via the outbox."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog

from services.engine import repository
from services.engine.cancellation import cancel_checked, is_cancelled, table_check
from services.engine.domain.request_check import request_problems
from services.engine.input_cache import InputCache
from services.engine.job import BacktestJob, Refusal
from services.engine.request_facts import TableFacts
from shared.contracts import topics
from shared.contracts.events import (
    BacktestCompleted,
    BacktestFailed,
    BacktestProgress,
    BacktestRequested,
    Envelope,
    make_event,
)
from shared.contracts.models import BacktestStatus, PerformanceMetrics
from shared.contracts.models.backtest import CANCELLED_BY_USER
from shared.contracts.models.errors import summarize
from shared.contracts.raw_requests import UncheckedRequest
from shared.platform.db.reads import gateway_waits_for
from shared.platform.db.types import Connection
from shared.platform.kafka.outbox import enqueue
from shared.platform.kafka.producer import EventPublisher
from shared.platform.kafka.resend import resend_latest
from shared.platform.runtime.metrics import BACKTESTS, BACKTESTS_RUNNING, EVENTS_IGNORED, REQUESTS_REFUSED
from shared.platform.runtime.service import ServiceContext
from shared.platform.runtime.warmup import imported_in_thread

if TYPE_CHECKING:
    from services.engine.backtest_job import Announce
    from services.engine.domain.outcome import BacktestOutcome

SOURCE = "bts/engine"
# The use case imports NautilusTrader, empyrical and pandas (seconds of CPU): not on the service's way to ready.
# The warm-up loads it after ready; a message that comes first loads it (or waits for the warm-up's import).
USE_CASE = "services.engine.backtest_job"
# Set when this process starts its first backtest: a warm-up still going then leaves the rest to that run.
BACKTEST_STARTED = threading.Event()
log = structlog.get_logger()


async def use_case_loaded() -> None:
    """The use case imported (in a worker thread, if not done yet)."""
    await imported_in_thread(USE_CASE)


def refused(problems: list[str]) -> str:
    """A refused request's error message: short (an event carries it), the first problems and a count."""
    return f"the request was refused: {summarize(problems)}"


def job_from_request(request: BacktestRequested) -> BacktestJob:
    config = request.configuration
    return BacktestJob(
        backtest_id=request.backtest_id,
        user_id=request.user_id,
        configuration_id=config.id,
        strategy_type=request.strategy.strategy_type,
        parameters=dict(request.strategy.parameters),
        instrument_ids=list(config.instrument_ids),
        start_date=config.start_date,
        end_date=config.end_date,
        initial_capital=config.initial_capital,
        position_size_pct=config.position_size_pct,
        commission_model=config.commission_model,
        benchmark_symbol=config.benchmark_symbol,
        timeframe=request.timeframe.value,
        price_adjustment=config.price_adjustment.value,
        request=request.model_dump(mode="json"),
        sweep_id=request.sweep_id,
        data_as_of=request.data_as_of,
        warmup_start=request.warmup_start,
    )


TERMINAL_TOPICS = (topics.BACKTEST_COMPLETED, topics.BACKTEST_FAILED)


def announcer(job: BacktestJob, correlation_id: str) -> Announce:
    """What enqueues a run's outcome (backtest.completed / backtest.failed) in the result's transaction."""

    async def announce(conn: Connection, outcome: BacktestOutcome) -> None:
        if outcome.status == "COMPLETED":
            data: Any = BacktestCompleted(
                backtest_id=job.backtest_id,
                user_id=job.user_id,
                configuration_id=job.configuration_id,
                trades_count=outcome.trades_count,
                winning_trades=outcome.winning_trades,
                losing_trades=outcome.losing_trades,
                metrics=PerformanceMetrics.model_validate(outcome.metrics),
                start_date=job.start_date,
                end_date=job.end_date,
                initial_capital=job.initial_capital,
                final_value=outcome.final_value,
                warnings=outcome.warnings,
                sweep_id=job.sweep_id,
            )
            topic = topics.BACKTEST_COMPLETED
        else:
            data = BacktestFailed(
                backtest_id=job.backtest_id,
                user_id=job.user_id,
                configuration_id=job.configuration_id,
                error_message=outcome.error_message or "failed",
                sweep_id=job.sweep_id,
            )
            topic = topics.BACKTEST_FAILED
        event = make_event(topic, data, source=SOURCE, subject=str(job.backtest_id), correlation_id=correlation_id)
        await enqueue(conn, "engine", event, key=str(job.user_id))
        BACKTESTS.labels(outcome.status).inc()

    return announce


class BacktestHandler:
    def __init__(self, ctx: ServiceContext, publisher: EventPublisher) -> None:
        self.ctx, self.publisher = ctx, publisher
        self.inputs = InputCache()  # a sweep's bars, read once per replica

    async def _progress(
        self, envelope: Envelope[Any], status: BacktestStatus, pct: float, eta: datetime | None = None
    ) -> None:
        request: BacktestRequested = envelope.data
        data = BacktestProgress(
            backtest_id=request.backtest_id,
            user_id=request.user_id,
            status=status,
            progress_pct=pct,
            estimated_completion=eta,
        )
        event = make_event(
            topics.BACKTEST_PROGRESS,
            data,
            source=SOURCE,
            subject=str(request.backtest_id),
            correlation_id=envelope.correlation_id,
        )
        try:  # progress is best effort: a lost progress event must not fail the run
            await self.publisher.publish(event, key=str(request.user_id))
        except Exception as exc:
            log.warning("progress not published", error=str(exc))

    async def __call__(self, envelope: Envelope[Any]) -> None:
        data: BacktestRequested | UncheckedRequest = envelope.data
        async with self.ctx.pool.acquire() as conn:
            owner = await repository.result_owner(conn, data.backtest_id)
            if owner is not None and owner != data.user_id:  # forged: someone else's result id
                log.warning("request names another user's backtest: ignored", backtest_id=str(data.backtest_id))
                EVENTS_IGNORED.labels(self.ctx.name, topics.BACKTEST_REQUESTED, "another user's backtest").inc()
                return
            if isinstance(data, UncheckedRequest):  # parsed, but breaks the model's rules
                problems, configuration_id = data.problems, data.configuration_id
            else:
                problems, configuration_id = await request_problems(data, TableFacts(conn)), data.configuration.id
            cancelled = await is_cancelled(conn, data.backtest_id)
        if cancelled:  # cancelled while it waited in the queue: it never starts
            request = data.model_dump(mode="json")
            refusal = Refusal(data.backtest_id, data.user_id, configuration_id, request, CANCELLED_BY_USER)
            await self._refuse(envelope, refusal, data.sweep_id)
            return
        if isinstance(data, BacktestRequested) and not problems:
            await self._run(envelope, job_from_request(data))
            return
        request = data.model_dump(mode="json")
        refusal = Refusal(data.backtest_id, data.user_id, configuration_id, request, refused(problems))
        await self._refuse(envelope, refusal, data.sweep_id)

    async def _refuse(self, envelope: Envelope[Any], refusal: Refusal, sweep_id: UUID | None) -> None:
        async def announce(conn: Connection, outcome: BacktestOutcome) -> None:
            ids = {"backtest_id": refusal.backtest_id, "user_id": refusal.user_id, "sweep_id": sweep_id}
            data = BacktestFailed(**ids, configuration_id=refusal.configuration_id, error_message=refusal.reason)
            await self._announce(conn, envelope, topics.BACKTEST_FAILED, data, outcome.status)

        await use_case_loaded()
        from services.engine.backtest_job import refuse_job

        outcome = await refuse_job(self.ctx.pool, refusal, announce)
        if outcome.status == "FAILED":
            REQUESTS_REFUSED.inc()
        log.info("backtest request refused", backtest_id=str(refusal.backtest_id), outcome=outcome.status)
        if outcome.status == "SKIPPED":  # requested again, refused already
            await self._announce_again(refusal.backtest_id)

    async def _announce(self, conn: Connection, envelope: Envelope[Any], topic: str, data: Any, status: str) -> None:
        subject, correlation = str(data.backtest_id), envelope.correlation_id
        event = make_event(topic, data, source=SOURCE, subject=subject, correlation_id=correlation)
        await enqueue(conn, "engine", event, key=str(data.user_id))
        BACKTESTS.labels(status).inc()

    async def _run(self, envelope: Envelope[Any], job: BacktestJob) -> None:
        async def progress(pct: float, eta: datetime | None) -> None:
            await self._progress(envelope, BacktestStatus.RUNNING, pct, eta)

        BACKTEST_STARTED.set()
        await use_case_loaded()
        from services.engine.backtest_job import run_job

        BACKTESTS_RUNNING.inc()
        try:
            announce = announcer(job, envelope.correlation_id)
            takeovers = self.ctx.settings.max_takeovers
            with cancel_checked(table_check(self.ctx.pool, job.backtest_id)):
                outcome = await run_job(self.ctx.pool, job, progress, announce, self.inputs, max_takeovers=takeovers)
        finally:
            BACKTESTS_RUNNING.dec()
        if outcome.status == "SKIPPED":  # requested again, done already
            await self._announce_again(job.backtest_id)
            return
        log.info(
            "backtest finished", backtest_id=str(job.backtest_id), status=outcome.status, error=outcome.error_message
        )

    async def _announce_again(self, backtest_id: UUID) -> None:
        """The end of a run done already, announced again if the gateway still waits for it and the event had
        time to arrive (it was lost); a mere duplicate of the request changes nothing."""
        in_transit_s = self.ctx.settings.reconcile_stale_after_s
        async with self.ctx.pool.acquire() as conn, conn.transaction():
            if await gateway_waits_for(conn, "backtest_status", backtest_id):
                await resend_latest(conn, "engine", TERMINAL_TOPICS, "backtest_id", str(backtest_id), in_transit_s)
                log.info("backtest already done; its end announced again", backtest_id=str(backtest_id))

    async def give_up(self, envelope: Envelope[Any], reason: str) -> None:
        """backtest.requested given up on (dead-lettered): the result ends FAILED, backtest.failed goes out."""
        data: BacktestRequested | UncheckedRequest = envelope.data
        if isinstance(data, UncheckedRequest):  # refused anyway: with the model's reasons
            request = data.model_dump(mode="json")
            reason = refused(data.problems)
            await self._refuse(
                envelope, Refusal(data.backtest_id, data.user_id, data.configuration_id, request, reason), data.sweep_id
            )
            return
        job = job_from_request(data)
        await use_case_loaded()
        from services.engine.backtest_job import fail_given_up

        if await fail_given_up(self.ctx.pool, job, announcer(job, envelope.correlation_id), reason):
            log.warning("backtest failed: request given up on", backtest_id=str(job.backtest_id), reason=reason)
