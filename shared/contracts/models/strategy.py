"""TradingStrategy: trading logic with typed parameters and the DRAFT -> ACTIVE -> ARCHIVED lifecycle.

"Name must be unique per user" is a database rule (a unique constraint on (user_id, name)).
`strategy_type` is one of the registered strategy types (`shared.strategy_types`): the data model's three
built-ins and whatever plugins are installed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, computed_field, model_validator

from shared.contracts.models.enums import StrategyStatus
from shared.contracts.models.errors import DomainError, ReadOnlyError
from shared.contracts.models.transitions import next_strategy_status
from shared.strategy_types import registry, validate_parameters
from shared.strategy_types.spec import NAME_PATTERN


class TradingStrategy(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    user_id: UUID
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    strategy_type: str = Field(pattern=NAME_PATTERN, description="a registered strategy type (GET /strategy-types)")
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
    def _parameters_match_type(self, info: ValidationInfo) -> Self:
        if info.context and info.context.get("stored") and self.strategy_type not in registry():
            return self  # a stored strategy whose plugin is gone stays readable; it cannot run (the gateway says so)
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
