"""backtest.requested in; backtest.progress out directly, backtest.completed / backtest.failed via the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from services.engine.backtest_job import BacktestJob, BacktestOutcome, run_job
from services.engine.input_cache import InputCache
from shared import topics
from shared.db.types import Connection
from shared.events import BacktestCompleted, BacktestFailed, BacktestProgress, BacktestRequested, Envelope, make_event
from shared.kafka.outbox import enqueue
from shared.kafka.producer import EventPublisher
from shared.models import BacktestStatus, PerformanceMetrics
from shared.runtime.metrics import BACKTESTS, BACKTESTS_RUNNING
from shared.runtime.service import ServiceContext

SOURCE = "bts/engine"
log = structlog.get_logger()


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
        commission_model=config.commission_model.model_dump(mode="json"),
        benchmark_symbol=config.benchmark_symbol,
        timeframe=request.timeframe.value,
        request=request.model_dump(mode="json"),
        sweep_id=request.sweep_id,
        data_as_of=request.data_as_of,
    )


class BacktestHandler:
    def __init__(self, ctx: ServiceContext, publisher: EventPublisher) -> None:
        self.ctx, self.publisher = ctx, publisher
        self.inputs = InputCache()  # a sweep's bars, read once per replica

    async def _progress(self, envelope: Envelope[Any], status: BacktestStatus, pct: float,
                        eta: datetime | None = None) -> None:  # fmt: skip
        request: BacktestRequested = envelope.data
        data = BacktestProgress(backtest_id=request.backtest_id, user_id=request.user_id, status=status,
                                progress_pct=pct, estimated_completion=eta)  # fmt: skip
        event = make_event(topics.BACKTEST_PROGRESS, data, source=SOURCE, subject=str(request.backtest_id),
                           correlation_id=envelope.correlation_id)  # fmt: skip
        try:  # progress is best effort: a lost progress event must not fail the run
            await self.publisher.publish(event, key=str(request.user_id))
        except Exception as exc:
            log.warning("progress not published", error=str(exc))

    async def __call__(self, envelope: Envelope[Any]) -> None:
        request: BacktestRequested = envelope.data
        job = job_from_request(request)

        async def announce(conn: Connection, outcome: BacktestOutcome) -> None:
            if outcome.status == "COMPLETED":
                data: Any = BacktestCompleted(
                    backtest_id=job.backtest_id, user_id=job.user_id, configuration_id=job.configuration_id,
                    trades_count=outcome.trades_count, winning_trades=outcome.winning_trades,
                    losing_trades=outcome.losing_trades, metrics=PerformanceMetrics.model_validate(outcome.metrics),
                    start_date=job.start_date, end_date=job.end_date, initial_capital=job.initial_capital,
                    final_value=outcome.final_value, warnings=outcome.warnings, sweep_id=job.sweep_id,
                )  # fmt: skip
                topic = topics.BACKTEST_COMPLETED
            else:
                data = BacktestFailed(backtest_id=job.backtest_id, user_id=job.user_id,
                                      configuration_id=job.configuration_id,
                                      error_message=outcome.error_message or "failed",
                                      sweep_id=job.sweep_id)  # fmt: skip
                topic = topics.BACKTEST_FAILED
            event = make_event(topic, data, source=SOURCE, subject=str(job.backtest_id),
                               correlation_id=envelope.correlation_id)  # fmt: skip
            await enqueue(conn, "engine", event, key=str(job.user_id))
            BACKTESTS.labels(outcome.status).inc()

        async def progress(pct: float, eta: datetime | None) -> None:
            await self._progress(envelope, BacktestStatus.RUNNING, pct, eta)

        BACKTESTS_RUNNING.inc()
        try:
            outcome = await run_job(self.ctx.pool, job, progress, announce, self.inputs)
        finally:
            BACKTESTS_RUNNING.dec()
        if outcome.status == "SKIPPED":  # a redelivery of a request already done
            log.info("backtest already done", backtest_id=str(job.backtest_id))
            return
        log.info("backtest finished", backtest_id=str(job.backtest_id), status=outcome.status,
                 error=outcome.error_message)  # fmt: skip
