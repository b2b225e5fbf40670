"""/strategies: a user's strategies and their DRAFT -> ACTIVE -> ARCHIVED lifecycle."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import ValidationError

from services.api.auth import CurrentUser
from services.api.domain.listing import Filter, prefix_like
from services.api.handlers.deps import Db
from services.api.pagination import DEFAULT, IdPrefix, Limit, Offset, Page, Since, Until, day_start
from services.api.problems import FieldError, ProblemError, not_found, unprocessable, validation_problem
from services.api.repository.strategies import (
    DuplicateStrategyName,
    get_strategy,
    insert_strategy,
    list_strategies,
    save_strategy,
)
from services.api.schemas import StrategyCreate, StrategyOut, StrategyUpdate
from shared.contracts.models import DomainError, StrategyStatus
from shared.contracts.models.parameters import ParameterError, validate_parameters
from shared.contracts.models.strategy import TradingStrategy

router = APIRouter(prefix="/strategies", tags=["strategies"])


def out(strategy: TradingStrategy) -> StrategyOut:
    return StrategyOut.model_validate(strategy.model_dump())


async def _owned(conn: Db, user: UUID, strategy_id: UUID) -> TradingStrategy:
    strategy = await get_strategy(conn, user, strategy_id)
    if strategy is None:
        raise not_found("strategy", strategy_id)
    return strategy


def _check_parameters(strategy_type: str, parameters: dict[str, Any] | None) -> None:
    """Name each bad parameter as body.parameters.<name>, an unregistered type as body.strategy_type
    (the model alone would say only "body")."""
    if parameters is None:
        return
    try:
        validate_parameters(strategy_type, parameters)
    except ParameterError as exc:
        raise unprocessable([FieldError(field=f"body.{f}", message=m) for f, m in exc.errors]) from exc


def _conflict(exc: Exception) -> ProblemError:
    return ProblemError(409, "Conflict", str(exc))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=StrategyOut,
    responses={409: {"description": "a strategy of yours already has this name"}},
)
async def create_strategy(body: StrategyCreate, user: CurrentUser, conn: Db) -> StrategyOut:
    """A new DRAFT strategy; the type must be registered and the parameters must match its schema
    (GET /strategy-types): 422 names an unknown parameter or a value out of range."""
    _check_parameters(body.strategy_type, body.parameters)
    now = datetime.now(UTC)
    try:
        strategy = TradingStrategy(
            id=uuid.uuid4(),
            user_id=user,
            name=body.name,
            strategy_type=body.strategy_type,
            parameters=body.parameters,
            created_at=now,
            updated_at=now,
        )
    except ValidationError as exc:
        raise validation_problem(exc, prefix="body") from exc
    try:
        await insert_strategy(conn, strategy)
    except DuplicateStrategyName as exc:
        raise ProblemError(409, "Conflict", str(exc), [FieldError(field="body.name", message=str(exc))]) from exc
    return out(strategy)


@router.get("", response_model=Page[StrategyOut])
async def get_strategies(
    user: CurrentUser,
    conn: Db,
    status: Annotated[StrategyStatus | None, Query()] = None,
    strategy_type: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(max_length=200, description="exactly this name")] = None,
    since: Since = None,
    until: Until = None,
    id_prefix: IdPrefix = None,
    limit: Limit = DEFAULT,
    offset: Offset = 0,
) -> Page[StrategyOut]:
    """Your strategies, oldest first, one page at a time."""
    filters = [
        Filter("status = ?", status.value if status else None),
        Filter("strategy_type = ?", strategy_type),
        Filter("name = ?", name),
        Filter("created_at >= ?", day_start(since)),
        Filter("created_at < ?", day_start(until, 1)),
        Filter("id::text LIKE ?", prefix_like(id_prefix)),
    ]
    strategies, total = await list_strategies(conn, user, filters, limit, offset)
    return Page(items=[out(s) for s in strategies], total=total, limit=limit, offset=offset)


@router.get("/{strategy_id}", response_model=StrategyOut)
async def get_one(strategy_id: UUID, user: CurrentUser, conn: Db) -> StrategyOut:
    return out(await _owned(conn, user, strategy_id))


@router.patch(
    "/{strategy_id}",
    response_model=StrategyOut,
    responses={409: {"description": "not a DRAFT, or the new name is taken"}},
)
async def edit(strategy_id: UUID, body: StrategyUpdate, user: CurrentUser, conn: Db) -> StrategyOut:
    """Change a DRAFT strategy's name or parameters."""
    async with conn.transaction():
        strategy = await _owned(conn, user, strategy_id)
        if strategy.status is StrategyStatus.DRAFT:
            _check_parameters(strategy.strategy_type, body.parameters)
        try:
            edited = strategy.edit(datetime.now(UTC), name=body.name, parameters=body.parameters)
        except ValidationError as exc:
            raise validation_problem(exc, prefix="body") from exc
        except DomainError as exc:
            raise _conflict(exc) from exc
        try:
            await save_strategy(conn, edited)
        except DuplicateStrategyName as exc:
            raise _conflict(exc) from exc
    return out(edited)


@router.post("/{strategy_id}/activate", response_model=StrategyOut, responses={409: {"description": "not a DRAFT"}})
async def activate(strategy_id: UUID, user: CurrentUser, conn: Db) -> StrategyOut:
    """DRAFT -> ACTIVE: only active strategies can be backtested."""
    async with conn.transaction():
        strategy = await _owned(conn, user, strategy_id)
        try:
            changed = strategy.activate(datetime.now(UTC))
        except DomainError as exc:
            raise _conflict(exc) from exc
        await save_strategy(conn, changed)
    return out(changed)


@router.post("/{strategy_id}/archive", response_model=StrategyOut, responses={409: {"description": "already archived"}})
async def archive(strategy_id: UUID, user: CurrentUser, conn: Db) -> StrategyOut:
    """ACTIVE -> ARCHIVED: read-only from then on."""
    async with conn.transaction():
        strategy = await _owned(conn, user, strategy_id)
        try:
            changed = strategy.archive(datetime.now(UTC))
        except DomainError as exc:
            raise _conflict(exc) from exc
        await save_strategy(conn, changed)
    return out(changed)
