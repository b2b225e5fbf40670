"""Kafka in: the events that feed the gateway's read models (backtest status, import jobs, sweeps).

Runs inside the idempotent transaction of the inbox, so a redelivered event changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import structlog

from services.api import sweep_flow
from services.api.domain.read_models import next_backtest_view, next_import_view
from services.api.repository import backtests, imports
from shared import topics
from shared.db.types import Connection
from shared.events import BacktestCompleted, BacktestFailed, BacktestRequested, BarsLoaded, Envelope

log = structlog.get_logger()

BACKTEST_TOPICS: Final = (topics.BACKTEST_PROGRESS, topics.BACKTEST_COMPLETED, topics.BACKTEST_FAILED)
IMPORT_TOPICS: Final = (topics.INGEST_PROGRESS, topics.BARS_LOADED, topics.INGEST_FAILED)
READ_MODEL_TOPICS: Final = (topics.BACKTEST_REQUESTED, *BACKTEST_TOPICS, *IMPORT_TOPICS)


async def apply_event(conn: Connection, envelope: Envelope[Any]) -> None:
    topic, data = envelope.type, envelope.data
    if topic == topics.BACKTEST_REQUESTED and isinstance(data, BacktestRequested):
        # also requests published straight to Kafka by outside producers
        await backtests.record_requested(conn, data, envelope.time)
    elif topic in BACKTEST_TOPICS:
        view = await backtests.view_for_update(conn, data.backtest_id)
        if view is None:
            await backtests.record_seen(conn, data.backtest_id, data.user_id, envelope.time)
            view = await backtests.view_for_update(conn, data.backtest_id)
        assert view is not None
        changed = next_backtest_view(view, topic, data)
        if changed != view:
            await backtests.save_view(conn, data.backtest_id, changed)
        if isinstance(data, BacktestCompleted | BacktestFailed):  # a sweep's child: release the next one
            await sweep_flow.on_backtest_finished(conn, data, datetime.now(UTC))
    elif topic in IMPORT_TOPICS and getattr(data, "job_id", None) is not None:
        current = await imports.view_for_update(conn, data.job_id)
        if current is None:  # a job the gateway did not start (e.g. a producer of its own)
            log.info("event for an unknown import job", topic=topic, job_id=str(data.job_id))
            return
        moved = next_import_view(current, topic, data)
        if moved != current:
            await imports.save_view(conn, data.job_id, moved)
            if isinstance(data, BarsLoaded) and data.notes and data.job_id is not None:
                await imports.record_notes(conn, data.job_id, list(data.notes))
