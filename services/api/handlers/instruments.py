"""/instruments: register and look up tradeable assets (shared by all users)."""

from __future__ import annotations

from fastapi import APIRouter, Path, status

from services.api.auth import CurrentUser
from services.api.handlers.deps import Db
from services.api.problems import FieldError, ProblemError, not_found, unprocessable
from services.api.repository.instruments import DuplicateInstrument, get_instrument, insert_instrument, list_instruments
from shared.calendars import UnknownExchangeError, calendar_for
from shared.models import Instrument
from shared.models.backtest import INSTRUMENT_ID_PATTERN

router = APIRouter(prefix="/instruments", tags=["instruments"])
InstrumentId = Path(pattern=INSTRUMENT_ID_PATTERN, examples=["AAPL.NASDAQ"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Instrument,
             responses={409: {"description": "already registered"}})  # fmt: skip
async def register(body: Instrument, user: CurrentUser, conn: Db) -> Instrument:
    """Register an instrument; its exchange must map to a trading calendar."""
    try:
        calendar_for(body.exchange)
    except UnknownExchangeError as exc:
        raise unprocessable([FieldError(field="body.exchange", message=str(exc))]) from exc
    try:
        await insert_instrument(conn, body)
    except DuplicateInstrument as exc:
        raise ProblemError(409, "Conflict", str(exc)) from exc
    return body


@router.get("", response_model=list[Instrument])
async def get_all(user: CurrentUser, conn: Db) -> list[Instrument]:
    return await list_instruments(conn)


@router.get("/{instrument_id}", response_model=Instrument)
async def get_one(user: CurrentUser, conn: Db, instrument_id: str = InstrumentId) -> Instrument:
    instrument = await get_instrument(conn, instrument_id)
    if instrument is None:
        raise not_found("instrument", instrument_id)
    return instrument
