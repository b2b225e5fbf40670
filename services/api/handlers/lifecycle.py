"""Delete, cancel and clone (docs/api.md, Lifecycle): thin routes over services/api/lifecycle.py."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field, ValidationError

from services.api import lifecycle
from services.api.auth import CurrentUser
from services.api.handlers.deps import Db
from services.api.handlers.instruments import InstrumentId
from services.api.handlers.strategies import out
from services.api.problems import FieldError, ProblemError, validation_problem
from services.api.repository.strategies import DuplicateStrategyName
from services.api.schemas import StrategyOut
from shared.contracts.models import Timeframe

router = APIRouter(tags=["lifecycle"])

CONFLICT: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such resource of yours"},
    409: {"description": "not in a state that allows it: the detail says what to do"},
}


class CancelOut(BaseModel):
    id: UUID
    status: str = Field(description="the status when the cancel was asked; it ends FAILED, 'cancelled by the user'")
    cancelling: list[UUID] = Field(description="backtests asked to stop")
    dropped: int = Field(default=0, description="a sweep's children dropped before they were published")


class CloneBody(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100, description="default: '<name> (copy)'")


def _problem(exc: Exception) -> ProblemError:
    if isinstance(exc, lifecycle.NotFound):
        return ProblemError(404, "Not Found", str(exc))
    if isinstance(exc, lifecycle.Forbidden):
        return ProblemError(403, "Forbidden", str(exc))
    return ProblemError(409, "Conflict", str(exc))


def _accepted(accepted: lifecycle.CancelAccepted) -> CancelOut:
    return CancelOut(id=accepted.id, status=accepted.status, cancelling=accepted.cancelling, dropped=accepted.dropped)


@router.delete("/backtests/{backtest_id}", status_code=status.HTTP_204_NO_CONTENT, responses=CONFLICT)
async def delete_backtest(backtest_id: UUID, user: CurrentUser, conn: Db) -> Response:
    """Delete a finished backtest with its result, trades, snapshots, reports and report files (the engine
    and reporting remove theirs on backtest.deleted). A running one: 409, cancel it first."""
    try:
        await lifecycle.delete_backtest(conn, user, backtest_id)
    except (lifecycle.NotFound, lifecycle.Refused) as exc:
        raise _problem(exc) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/backtests/{backtest_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CancelOut,
    responses=CONFLICT,
)
async def cancel_backtest(backtest_id: UUID, user: CurrentUser, conn: Db) -> CancelOut:
    """Stop a PENDING or RUNNING backtest: a queued request never starts, a running one stops within about a
    second; either ends FAILED "cancelled by the user", with no trades or snapshots."""
    try:
        return _accepted(await lifecycle.cancel_backtest(conn, user, backtest_id))
    except (lifecycle.NotFound, lifecycle.Refused) as exc:
        raise _problem(exc) from exc


@router.delete("/sweeps/{sweep_id}", status_code=status.HTTP_204_NO_CONTENT, responses=CONFLICT)
async def delete_sweep(sweep_id: UUID, user: CurrentUser, conn: Db) -> Response:
    """Delete a finished sweep, every backtest it ran (as DELETE /backtests/{id} would) and its report."""
    try:
        await lifecycle.delete_sweep(conn, user, sweep_id)
    except (lifecycle.NotFound, lifecycle.Refused) as exc:
        raise _problem(exc) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/sweeps/{sweep_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=CancelOut, responses=CONFLICT
)
async def cancel_sweep(sweep_id: UUID, user: CurrentUser, conn: Db) -> CancelOut:
    """Drop the sweep's queued children and stop its running ones; it then finishes with what did run."""
    try:
        return _accepted(await lifecycle.cancel_sweep(conn, user, sweep_id))
    except (lifecycle.NotFound, lifecycle.Refused) as exc:
        raise _problem(exc) from exc


@router.delete("/strategies/{strategy_id}", status_code=status.HTTP_204_NO_CONTENT, responses=CONFLICT)
async def delete_strategy(strategy_id: UUID, user: CurrentUser, conn: Db) -> Response:
    """Delete a strategy no backtest or sweep uses any more; else 409 naming them."""
    try:
        await lifecycle.delete_strategy(conn, user, strategy_id)
    except (lifecycle.NotFound, lifecycle.Refused) as exc:
        raise _problem(exc) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/strategies/{strategy_id}/clone",
    status_code=status.HTTP_201_CREATED,
    response_model=StrategyOut,
    responses={404: CONFLICT[404], 409: {"description": "the name is taken"}},
)
async def clone_strategy(strategy_id: UUID, user: CurrentUser, conn: Db, body: CloneBody | None = None) -> StrategyOut:
    """A new DRAFT with the same type and parameters, from any strategy of yours (ARCHIVED ones too: the way
    to run an archived strategy again)."""
    try:
        clone = await lifecycle.clone_strategy(conn, user, strategy_id, body.name if body else None)
    except lifecycle.NotFound as exc:
        raise _problem(exc) from exc
    except ValidationError as exc:  # a name the strategy model refuses (control characters, blank)
        raise validation_problem(exc, prefix="body") from exc
    except DuplicateStrategyName as exc:
        raise ProblemError(409, "Conflict", str(exc), [FieldError(field="body.name", message=str(exc))]) from exc
    return out(clone)


class MarketDataDeletionOut(BaseModel):
    instrument_id: str
    timeframe: Timeframe | None = Field(description="null: every timeframe")
    results_using: int = Field(description="results computed from these bars (every user's)")
    versions_kept: bool = Field(
        description="true when results use the bars: they leave the current data but stay readable as of those "
        "results' data_as_of (reproductions)"
    )


@router.delete(
    "/market-data/{instrument_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MarketDataDeletionOut,
    responses={**CONFLICT, 403: {"description": "not the instrument's owner nor an admin"}},
)
async def delete_market_data(
    user: CurrentUser,
    conn: Db,
    instrument_id: str = InstrumentId,
    timeframe: Annotated[Timeframe | None, Query(description="only this timeframe; default: every one")] = None,
    force: Annotated[bool, Query(description="also when results were computed from the bars")] = False,
) -> MarketDataDeletionOut:
    """Delete an instrument's bars (its owner or an admin). Refused (409, naming them) while a backtest of yours
    still to run reads them, and while results were computed from them unless `force=true`: then the bars leave
    the current data but the version those results read is kept, so their reproductions still work. Ingest
    deletes them on market_data.delete_requested (202: on its way)."""
    try:
        done = await lifecycle.delete_market_data(
            conn, user, instrument_id, timeframe.value if timeframe else None, force
        )
    except (lifecycle.NotFound, lifecycle.Refused, lifecycle.Forbidden) as exc:
        raise _problem(exc) from exc
    return MarketDataDeletionOut(
        instrument_id=done.instrument_id,
        timeframe=timeframe,
        results_using=done.results_using,
        versions_kept=done.versions_kept,
    )
