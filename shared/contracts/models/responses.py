"""The data model's API response models, exactly."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from shared.contracts.models.enums import BacktestStatus


class StrategyResponse(BaseModel):
    id: UUID
    name: str
    strategy_type: str = Field(description="a registered strategy type, e.g. SMA_CROSSOVER (GET /strategy-types)")
    parameters: dict[str, Any]
    created_at: datetime
    is_active: bool


class BacktestStatusResponse(BaseModel):
    id: UUID
    status: BacktestStatus
    progress_pct: float = Field(ge=0, le=100, description="percent, 0..100")
    estimated_completion: datetime | None
    error_message: str | None
