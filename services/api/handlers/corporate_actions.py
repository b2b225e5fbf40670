"""/instruments/{id}/corporate-actions: splits and cash dividends of an instrument, which a backtest's
price_adjustment applies to RAW bars. Anyone may read them; the instrument's owner or an admin writes them."""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import APIRouter, Request, status

from services.api.auth import CurrentUser
from services.api.domain.corporate_actions import ActionsInvalid, actions_from_csv, actions_from_json
from services.api.handlers.deps import Db
from services.api.handlers.instruments import WRITE_REFUSED, InstrumentId
from services.api.problems import FieldError, ProblemError, not_found, unprocessable
from services.api.repository.corporate_actions import upsert_actions
from services.api.repository.instruments import get_instrument
from shared.contracts.models.corporate_action import CorporateAction
from shared.platform.db.reads import fetch_corporate_actions, may_write_instrument, writer_refused

router = APIRouter(prefix="/instruments", tags=["instruments"])
PATH: Final = "/{instrument_id}/corporate-actions"
BODY_DOC: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": CorporateAction.model_json_schema()}},
            "text/csv": {"schema": {"type": "string"}, "example": "type,ex_date,ratio,amount\nSPLIT,2020-08-31,5,\n"},
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            },
        },
    }
}


async def _parsed(request: Request) -> list[CorporateAction]:
    """The body as actions, whichever of the three forms it takes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            return actions_from_json(json.loads(await request.body()))
        if kind == "multipart/form-data":
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise ActionsInvalid([("body.file", "expected a CSV file in the form field 'file'")])
            return actions_from_csv((await upload.read()).decode("utf-8"))
        if kind in ("text/csv", "text/plain"):
            return actions_from_csv((await request.body()).decode("utf-8"))
    except ActionsInvalid as exc:
        raise unprocessable([FieldError(field=f, message=m) for f, m in exc.problems]) from exc
    except UnicodeDecodeError as exc:
        raise unprocessable([FieldError(field="body", message=f"the CSV is not UTF-8 text: {exc.reason}")]) from exc
    except json.JSONDecodeError as exc:
        raise unprocessable([FieldError(field="body", message=f"not JSON: {exc.msg}")]) from exc
    except RecursionError as exc:  # the parser's own limit: nested far deeper than a list of actions
        raise unprocessable(
            [FieldError(field="body", message="expected a JSON list of actions, nested too deep")]
        ) from exc
    raise ProblemError(
        415, "Unsupported Media Type", f"send application/json, text/csv or multipart/form-data, got {kind or 'none'}"
    )


@router.post(
    PATH,
    status_code=status.HTTP_201_CREATED,
    response_model=list[CorporateAction],
    responses={415: {"description": "not JSON, CSV or a form upload"}, **WRITE_REFUSED},
    openapi_extra=BODY_DOC,
)
async def load_actions(
    request: Request, user: CurrentUser, conn: Db, instrument_id: str = InstrumentId
) -> list[CorporateAction]:
    """Load splits (`ratio`: new shares per old, 5 for 5:1) and cash dividends (`amount` per share) as a JSON
    list or a CSV `type,ex_date,ratio,amount`; an action already on record (same type and ex_date) is replaced.
    Answers every action now on record."""
    if await get_instrument(conn, instrument_id) is None:
        raise not_found("instrument", instrument_id)
    if not await may_write_instrument(conn, user, instrument_id):
        raise ProblemError(403, "Forbidden", writer_refused(instrument_id))
    actions = await _parsed(request)
    async with conn.transaction():
        await upsert_actions(conn, instrument_id, actions, user)
    return await fetch_corporate_actions(conn, instrument_id)


@router.get(PATH, response_model=list[CorporateAction])
async def list_actions(user: CurrentUser, conn: Db, instrument_id: str = InstrumentId) -> list[CorporateAction]:
    """The instrument's splits and dividends, by ex_date."""
    if await get_instrument(conn, instrument_id) is None:
        raise not_found("instrument", instrument_id)
    return await fetch_corporate_actions(conn, instrument_id)
