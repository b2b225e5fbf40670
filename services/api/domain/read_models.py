"""How events move the gateway's read models (pure: the current view and an event in, the next view out).

Events arrive at least once and, across topics, in any order (a late `backtest.progress` after the
`backtest.completed`): a terminal status never changes again and progress never goes backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from shared.contracts import topics
from shared.contracts.events import (
    BacktestCompleted,
    BacktestFailed,
    BacktestProgress,
    BarsLoaded,
    IngestFailed,
    IngestProgress,
)
from shared.contracts.models.enums import TERMINAL_STATUSES, BacktestStatus

TERMINAL = TERMINAL_STATUSES


@dataclass(frozen=True)
class BacktestView:
    status: BacktestStatus
    progress_pct: float
    estimated_completion: datetime | None
    error_message: str | None


class EngineResult(Protocol):
    """What the engine's table says about a backtest (the truth an event is checked against)."""

    @property
    def user_id(self) -> UUID: ...
    @property
    def status(self) -> str: ...
    @property
    def sweep_id(self) -> UUID | None: ...


def contradiction(topic: str, data: Any, result: EngineResult | None) -> str | None:
    """Why the engine's table contradicts a backtest event (then it is ignored), or None when it agrees.

    Events are notifications: a `backtest.completed`/`failed` counts only when the engine's row has that
    status, for that user (and that sweep); progress only for a result the engine has for that user."""
    if result is None:
        return "the engine has no such backtest"
    if result.user_id != data.user_id:
        return "the backtest belongs to another user"
    expected = {topics.BACKTEST_COMPLETED: BacktestStatus.COMPLETED, topics.BACKTEST_FAILED: BacktestStatus.FAILED}.get(
        topic
    )
    if expected is not None and result.status != expected:
        return f"the engine has the backtest {result.status}"
    if expected is not None and data.sweep_id is not None and data.sweep_id != result.sweep_id:
        return "the backtest is not a child of that sweep"
    return None


PENDING = BacktestView(status=BacktestStatus.PENDING, progress_pct=0.0, estimated_completion=None, error_message=None)


def next_backtest_view(current: BacktestView, topic: str, data: Any) -> BacktestView:
    """The status after `data` (a payload of `topic`); unchanged when the event is stale."""
    if current.status in TERMINAL:
        return current
    if topic == topics.BACKTEST_COMPLETED and isinstance(data, BacktestCompleted):
        return BacktestView(BacktestStatus.COMPLETED, 100.0, None, None)
    if topic == topics.BACKTEST_FAILED and isinstance(data, BacktestFailed):
        return replace(
            current, status=BacktestStatus.FAILED, estimated_completion=None, error_message=data.error_message
        )
    if topic == topics.BACKTEST_PROGRESS and isinstance(data, BacktestProgress):
        if data.status.value in TERMINAL:  # the completed/failed events carry the details; wait for them
            return current
        return BacktestView(
            status=data.status if data.status is BacktestStatus.RUNNING else current.status,
            progress_pct=max(current.progress_pct, float(data.progress_pct)),
            estimated_completion=data.estimated_completion,
            error_message=None,
        )
    return current


@dataclass(frozen=True)
class ImportView:
    status: str
    rows_done: int
    rows_total: int | None
    rows_loaded: int  # valid rows of the source: inserted + updated + unchanged
    rows_rejected: int
    errors: list[dict[str, Any]]
    error_message: str | None
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0  # a re-import of the same bars loads them all and changes none
    warnings: list[dict[str, Any]] = field(default_factory=list)  # the data-quality findings listed
    warning_counts: dict[str, int] = field(default_factory=dict)  # findings in all, per kind


def next_import_view(current: ImportView, topic: str, data: Any) -> ImportView:
    if current.status in TERMINAL:
        return current
    if topic == topics.INGEST_PROGRESS and isinstance(data, IngestProgress):
        return replace(
            current,
            status=BacktestStatus.RUNNING,
            rows_done=max(current.rows_done, data.rows_done),
            rows_total=data.rows_total if data.rows_total is not None else current.rows_total,
        )
    if topic == topics.BARS_LOADED and isinstance(data, BarsLoaded):
        loaded = data.rows_inserted + data.rows_updated + data.rows_unchanged
        return ImportView(
            status=BacktestStatus.COMPLETED,
            rows_done=loaded + data.rows_rejected,
            rows_total=current.rows_total,
            rows_loaded=loaded,
            rows_rejected=data.rows_rejected,
            errors=[e.model_dump() for e in data.errors],
            error_message=None,
            rows_inserted=data.rows_inserted,
            rows_updated=data.rows_updated,
            rows_unchanged=data.rows_unchanged,
            warnings=[w.model_dump(mode="json") for w in data.warnings],
            warning_counts={str(kind): count for kind, count in data.warning_counts.items()},
        )
    if topic == topics.INGEST_FAILED and isinstance(data, IngestFailed):
        return replace(
            current,
            status=BacktestStatus.FAILED,
            rows_loaded=data.rows_loaded,
            rows_rejected=data.rows_rejected,
            errors=[e.model_dump() for e in data.errors],
            error_message=data.error,
        )
    return current
