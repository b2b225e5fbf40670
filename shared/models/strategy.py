"""TradingStrategy: trading logic with typed parameters and the DRAFT -> ACTIVE -> ARCHIVED lifecycle.

"Name must be unique per user" is a database rule (a unique constraint on (user_id, name)).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field, model_validator

from shared.models.enums import StrategyStatus, StrategyType
from shared.models.errors import DomainError, ReadOnlyError
from shared.models.parameters import validate_parameters
from shared.models.transitions import next_strategy_status


class TradingStrategy(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    user_id: UUID
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    strategy_type: StrategyType
    parameters: dict[str, Any]
    status: StrategyStatus = StrategyStatus.DRAFT
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @model_validator(mode="before")
    @classmethod
    def _strip_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            data = {**data, "name": data["name"].strip()}
        return data

    @model_validator(mode="after")
    def _parameters_match_type(self) -> Self:
        typed = validate_parameters(self.strategy_type, self.parameters)  # raises ParameterError (a ValueError)
        object.__setattr__(self, "parameters", typed.model_dump())
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_active(self) -> bool:
        return self.status is StrategyStatus.ACTIVE

    def _to(self, status: StrategyStatus, now: datetime) -> TradingStrategy:
        return self.model_copy(update={"status": next_strategy_status(self.status, status), "updated_at": now})

    def activate(self, now: datetime) -> TradingStrategy:
        if self.status is StrategyStatus.ARCHIVED:
            raise ReadOnlyError(f"strategy {self.id} is ARCHIVED and read-only")
        return self._to(StrategyStatus.ACTIVE, now)

    def archive(self, now: datetime) -> TradingStrategy:
        if self.status is StrategyStatus.ARCHIVED:
            raise ReadOnlyError(f"strategy {self.id} is ARCHIVED and read-only")
        return self._to(StrategyStatus.ARCHIVED, now)

    def edit(self, now: datetime, name: str | None = None, parameters: dict[str, Any] | None = None) -> TradingStrategy:
        if self.status is StrategyStatus.ARCHIVED:
            raise ReadOnlyError(f"strategy {self.id} is ARCHIVED and read-only")
        if self.status is not StrategyStatus.DRAFT:
            raise DomainError(f"strategy {self.id} is {self.status}: only DRAFT strategies can be edited")
        data = self.model_dump(exclude={"is_active"})
        data.update(updated_at=now)
        if name is not None:
            data["name"] = name
        if parameters is not None:
            data["parameters"] = parameters
        return TradingStrategy.model_validate(data)
