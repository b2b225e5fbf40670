"""A sweep and its children as readers of the gateway's sweep views see them (reporting, the gateway's
own repository): one shape, whatever reads the rows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, field_validator

from shared.contracts.models.enums import BacktestStatus, SweepChildState, SweepPhase


def decode_json(value: Any) -> Any:
    """jsonb arrives as text unless the connection has a JSON codec."""
    return json.loads(value) if isinstance(value, str) else value


class SweepRow(BaseModel):
    """api.sweeps as reporting sees it."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    user_id: UUID
    name: str | None
    strategy_id: UUID | None
    strategy_type: str
    base_parameters: dict[str, Any]
    space: dict[str, Any]
    configuration: dict[str, Any]
    timeframe: str
    objective: str
    direction: str
    heatmap: list[str]
    prescreen_top_k: int | None
    walk_forward: dict[str, Any] | None
    report_top: int
    combinations: int
    skipped: int
    total: int
    status: BacktestStatus
    submitted_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @field_validator("base_parameters", "space", "configuration", "walk_forward", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return decode_json(value)


class SweepChildRow(BaseModel):
    """api.sweep_children as reporting sees it."""

    model_config = ConfigDict(frozen=True)

    n: int
    backtest_id: UUID | None
    combination: int
    phase: SweepPhase
    window_index: int | None
    parameters: dict[str, Any]
    start_date: Any
    end_date: Any
    state: SweepChildState
    prescreen_score: float | None
    objective_value: float | None
    metrics: dict[str, Any] | None
    trades_count: int | None
    error_message: str | None
    published_at: datetime | None
    finished_at: datetime | None

    @field_validator("parameters", "metrics", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return decode_json(value)
