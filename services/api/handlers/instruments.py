"""/instruments: register and look up tradeable assets (shared by all users)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from services.api.auth import CurrentUser
from services.api.domain.listing import Filter
from services.api.handlers.deps import Db
from services.api.pagination import DEFAULT, Limit, Offset, Page
from services.api.problems import FieldError, ProblemError, not_found, unprocessable
from services.api.repository.instruments import (
    InstrumentNotWritable,
    Registered,
    get_instrument,
    list_instruments,
    register_instrument,
)
from shared.contracts.models import AssetClass, Instrument
from shared.contracts.models.instrument import INSTRUMENT_ID_PATTERN
from shared.domain.calendars import UnknownExchangeError, calendar_code

router = APIRouter(prefix="/instruments", tags=["instruments"])
InstrumentId = Path(pattern=INSTRUMENT_ID_PATTERN, examples=["AAPL.NASDAQ"])


WRITE_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {"description": "the instrument is another user's: only its owner or an admin may write it"}
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Instrument,
    responses={200: {"description": "registered again: overwritten", "model": Instrument}, **WRITE_REFUSED},
)
async def register(body: Instrument, user: CurrentUser, conn: Db, response: Response) -> Instrument:
    """Register an instrument (you own it), or register it again to overwrite it: for its owner or an admin
    only. Its exchange must map to a trading calendar."""
    try:
        calendar_code(body.exchange)  # a known exchange, not its calendar: building one takes seconds of CPU once
    except UnknownExchangeError as exc:
        raise unprocessable([FieldError(field="body.exchange", message=str(exc))]) from exc
    try:
        outcome = await register_instrument(conn, body, user)
    except InstrumentNotWritable as exc:
        raise ProblemError(403, "Forbidden", str(exc)) from exc
    if outcome is Registered.REPLACED:
        response.status_code = status.HTTP_200_OK
    return body


@router.get("", response_model=Page[Instrument])
async def get_all(
    user: CurrentUser,
    conn: Db,
    exchange: Annotated[str | None, Query(max_length=32)] = None,
    asset_class: Annotated[AssetClass | None, Query()] = None,
    id_prefix: Annotated[str | None, Query(max_length=64, description="ids starting with this, e.g. AAPL")] = None,
    limit: Limit = DEFAULT,
    offset: Offset = 0,
) -> Page[Instrument]:
    """The registered instruments (shared by all users), by id, one page at a time."""
    filters = [
        Filter("exchange = ?", exchange),
        Filter("asset_class = ?", asset_class.value if asset_class else None),
        Filter("starts_with(id, ?)", id_prefix),
    ]
    items, total = await list_instruments(conn, filters, limit, offset)
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/{instrument_id}", response_model=Instrument)
async def get_one(user: CurrentUser, conn: Db, instrument_id: str = InstrumentId) -> Instrument:
    instrument = await get_instrument(conn, instrument_id)
    if instrument is None:
        raise not_found("instrument", instrument_id)
    return instrument
