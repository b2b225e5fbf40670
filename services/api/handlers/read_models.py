"""Kafka in: the events that feed the gateway's read models (backtest status, import jobs, sweeps).

Runs inside the idempotent transaction of the inbox, so a redelivered event changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import structlog

from services.api.domain.read_models import contradiction, next_backtest_view, next_import_view
from services.api.repository import backtests, imports, requeue
from services.api.service_layer import SOURCE
from services.api.service_layer.sweep_flow import on_backtest_finished
from services.api.service_layer.unit_of_work import PostgresUnitOfWork
from shared.contracts import topics
from shared.contracts.events import BacktestCompleted, BacktestFailed, BacktestRequested, BarsLoaded, Envelope
from shared.contracts.models import PerformanceMetrics
from shared.contracts.raw_requests import UncheckedRequest
from shared.platform.db.reads import ResultState, fetch_result_state
from shared.platform.db.types import Connection
from shared.platform.runtime.metrics import EVENTS_IGNORED

log = structlog.get_logger()

BACKTEST_TOPICS: Final = (topics.BACKTEST_PROGRESS, topics.BACKTEST_COMPLETED, topics.BACKTEST_FAILED)
IMPORT_TOPICS: Final = (topics.INGEST_PROGRESS, topics.BARS_LOADED, topics.INGEST_FAILED)
READ_MODEL_TOPICS: Final = (topics.BACKTEST_REQUESTED, *BACKTEST_TOPICS, *IMPORT_TOPICS)


async def apply_event(conn: Connection, envelope: Envelope[Any]) -> None:
    topic, data = envelope.type, envelope.data
    if isinstance(data, UncheckedRequest):  # the engine FAILs it with the field errors; its backtest.failed follows
        log.info("request breaks the model's rules: left to the engine", backtest_id=str(data.backtest_id))
    elif topic == topics.BACKTEST_REQUESTED and isinstance(data, BacktestRequested):
        # also requests published straight to Kafka by outside producers
        await backtests.record_requested(conn, data, envelope.time)
        if envelope.source != SOURCE:  # an outside producer's: kept, to be sent again if lost
            await requeue.remember_outside_request(conn, data)
    elif topic in BACKTEST_TOPICS:
        result = await fetch_result_state(conn, data.backtest_id)
        reason = contradiction(topic, data, result)
        if reason is not None or result is None:
            _ignored(topic, reason or "", backtest_id=str(data.backtest_id))
            return
        data = as_the_engine_has_it(data, result)
        view = await backtests.view_for_update(conn, data.backtest_id)
        if view is None:
            await backtests.record_seen(conn, data.backtest_id, data.user_id, envelope.time)
            view = await backtests.view_for_update(conn, data.backtest_id)
        assert view is not None
        changed = next_backtest_view(view, topic, data)
        if changed != view:
            await backtests.save_view(conn, data.backtest_id, changed)
        if isinstance(data, BacktestCompleted | BacktestFailed):  # a sweep's child: release the next one
            await on_backtest_finished(PostgresUnitOfWork(conn), data, datetime.now(UTC))
    elif topic in IMPORT_TOPICS and getattr(data, "job_id", None) is not None:
        current = await imports.view_for_update(conn, data.job_id)
        instrument = await imports.job_instrument(conn, data.job_id)
        if current is None or instrument != data.instrument_id:  # a job the gateway did not start, or forged
            reason = "no such import job" if current is None else "the job imports another instrument"
            _ignored(topic, reason, job_id=str(data.job_id))
            return
        moved = next_import_view(current, topic, data)
        if moved != current:
            await imports.save_view(conn, data.job_id, moved)
            if isinstance(data, BarsLoaded) and data.notes and data.job_id is not None:
                await imports.record_notes(conn, data.job_id, list(data.notes))


def as_the_engine_has_it(data: Any, result: ResultState) -> Any:
    """The event with the outcome the engine stored (its metrics, its error), whatever the message said."""
    if isinstance(data, BacktestCompleted) and result.metrics is not None:
        metrics = PerformanceMetrics.model_validate(result.metrics)
        return data.model_copy(update={"metrics": metrics, "trades_count": result.trades_count})
    if isinstance(data, BacktestFailed) and result.error_message:
        return data.model_copy(update={"error_message": result.error_message})
    return data


def _ignored(topic: str, reason: str, **ids: str) -> None:
    log.warning("event contradicts the owner's table: ignored", topic=topic, reason=reason, **ids)
    EVENTS_IGNORED.labels("api", topic, reason).inc()
