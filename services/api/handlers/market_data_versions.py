"""/market-data/coverage and /market-data/{id}/history: what market data there is, and how it changed.

Registered before /market-data/{instrument_id}, so "coverage" is never read as an instrument id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.api.auth import CurrentUser
from services.api.domain.coverage import series_coverage
from services.api.handlers.deps import Db
from services.api.handlers.instruments import InstrumentId
from services.api.problems import not_found
from services.api.repository.instruments import get_instrument
from services.api.schemas import CoverageOut, DataVersionOut, GapRange
from shared.contracts.models import Timeframe
from shared.contracts.models.instrument import INSTRUMENT_ID_PATTERN
from shared.platform.db.reads import fetch_data_versions, fetch_series_days

router = APIRouter(prefix="/market-data", tags=["market data"])


@router.get("/coverage", response_model=list[CoverageOut])
async def coverage(
    user: CurrentUser,
    conn: Db,
    instrument_id: Annotated[
        str | None, Query(pattern=INSTRUMENT_ID_PATTERN, description="only this instrument")
    ] = None,
    timeframe: Timeframe | None = None,
) -> list[CoverageOut]:
    """Per instrument and timeframe: first and last bar, bars, expected sessions of the exchange calendar over
    first..last, the sessions without a bar (count and the first ranges), adjustment and the last import."""
    found = await fetch_series_days(conn, instrument_id, timeframe.value if timeframe else None)
    out = []
    for series in map(series_coverage, found):
        gaps = [GapRange(start=start, end=end) for start, end in series.gaps]
        out.append(CoverageOut.model_validate({**vars(series), "gaps": gaps}))
    return out


@router.get("/{instrument_id}/history", response_model=list[DataVersionOut])
async def history(
    user: CurrentUser, conn: Db, timeframe: Timeframe | None = None, instrument_id: str = InstrumentId
) -> list[DataVersionOut]:
    """The versions of an instrument's series, oldest first: each import that changed bars, when, how many
    bars it added and changed, the range it touched. Backtests read the bars as of their run's time."""
    if await get_instrument(conn, instrument_id) is None:
        raise not_found("instrument", instrument_id)
    versions = await fetch_data_versions(conn, instrument_id, timeframe.value if timeframe else None)
    return [DataVersionOut.model_validate(v.model_dump()) for v in versions]
