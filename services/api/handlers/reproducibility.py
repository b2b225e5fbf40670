"""/backtests/{id}/manifest and /backtests/{id}/reproduce: what a result was computed from, and a rerun.

A reproduction replays the request the engine recorded for the result (same strategy type,
parameters, instruments, period, capital, costs and timeframe) as a new backtest; comparing the two
manifests shows whether the data, the code and the trades are the same. It is a check of a past
result, so it runs whatever the strategy's lifecycle state is now (an ARCHIVED strategy stays
read-only: nothing about it changes).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, status
from pydantic import ValidationError

from services.api.auth import CurrentUser
from services.api.handlers.backtests import Owned
from services.api.handlers.deps import Db
from services.api.problems import ProblemError
from services.api.repository.backtests import insert_configuration, record_requested
from services.api.repository.strategies import get_strategy
from services.api.schemas import ReproductionAccepted, ReproductionRequest
from services.api.service_layer import SOURCE
from shared.contracts import topics
from shared.contracts.events import BacktestRequested, make_event
from shared.contracts.models.enums import TERMINAL_STATUSES
from shared.contracts.models.manifest import RunManifest
from shared.platform.db.reads import fetch_manifest, fetch_result
from shared.platform.kafka.outbox import enqueue

router = APIRouter(prefix="/backtests", tags=["backtests"])


@router.get(
    "/{backtest_id}/manifest",
    response_model=RunManifest,
    responses={409: {"description": "not run yet, or a result from before manifests"}},
)
async def get_manifest(backtest: Owned, conn: Db) -> RunManifest:
    """SHA-256 of the exact bars used (per instrument), of the normalized configuration and parameters,
    of the trades; engine, NautilusTrader and code versions. FAILED results have one without trades."""
    manifest = await fetch_manifest(conn, backtest["id"])
    if manifest is None:
        raise ProblemError(
            409,
            "Conflict",
            f"backtest {backtest['id']} has no manifest (it is {backtest['status']}, "
            "or it ran before manifests were recorded)",
        )
    return RunManifest.model_validate(manifest)


@router.post(
    "/{backtest_id}/reproduce",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReproductionAccepted,
    responses={409: {"description": "not finished yet"}},
)
async def reproduce(
    backtest: Owned, user: CurrentUser, conn: Db, body: ReproductionRequest | None = None
) -> ReproductionAccepted:
    """Run the recorded request of a finished backtest again, as a new backtest (202 with its id);
    compare the manifests' trades_sha256 when it completes (`bts backtest reproduce ID` does). The rerun
    reads the market data as of the original run (`data_as_of`) unless `latest_data` is true; a result
    from before data versioning has no as-of and reruns on the current bars."""
    result = await fetch_result(conn, backtest["id"])
    if result is None or result.status not in TERMINAL_STATUSES:
        raise ProblemError(
            409, "Conflict", f"backtest {backtest['id']} is {backtest['status']}: reproduce it once it has finished"
        )
    try:
        original = BacktestRequested.model_validate(result.request)
    except ValidationError as exc:
        raise ProblemError(
            409,
            "Conflict",
            f"the request recorded for backtest {result.id} cannot be replayed: {exc.errors()[0]['msg']}",
        ) from exc
    request = original.model_copy(
        update={
            "backtest_id": uuid.uuid4(),
            "user_id": user,
            "requested_at": datetime.now(UTC),
            "configuration": original.configuration.model_copy(update={"id": uuid.uuid4()}),
            "data_as_of": None if body is not None and body.latest_data else result.data_as_of,
        }
    )
    event = make_event(topics.BACKTEST_REQUESTED, request, source=SOURCE, subject=str(request.backtest_id))
    async with conn.transaction():
        # The configuration table refers to the caller's strategies; a request an outside producer
        # published may name none, and is then tracked like theirs (status read model only).
        if await get_strategy(conn, user, original.configuration.strategy_id) is not None:
            await insert_configuration(conn, request)
        await record_requested(conn, request, request.requested_at)
        await enqueue(conn, "api", event, key=str(user))
    return ReproductionAccepted(id=request.backtest_id, reproduces=result.id, data_as_of=request.data_as_of)
