"""Share a result (docs/api.md, Sharing): GET /backtests/{id}/export, POST /backtests/import, and the files of
an imported backtest."""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, File, UploadFile, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from services.api import sharing
from services.api.auth import CurrentUser
from services.api.domain.bundle import BundleError
from services.api.handlers.backtests import Owned, get_portfolio, get_result, get_trades
from services.api.handlers.deps import Ctx, Db
from services.api.problems import FieldError, ProblemError, not_found, unprocessable

router = APIRouter(prefix="/backtests", tags=["sharing"])
MEDIA = {".html": "text/html", ".csv": "text/csv", ".json": "application/json"}


class ImportedOut(BaseModel):
    id: UUID
    imported_from: UUID
    status: str = "COMPLETED"
    files: list[str]


@router.get(
    "/{backtest_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}, 409: {"description": "not finished, or imported"}},
)
async def export(backtest: Owned, conn: Db, ctx: Ctx) -> Response:
    """A zip another installation imports (POST /backtests/import): result.json, manifest.json, trades.csv,
    portfolio.csv, the reports, and bundle.json with every file's SHA-256 and size."""
    if backtest["status"] != "COMPLETED":
        raise ProblemError(409, "Conflict", f"backtest {backtest['id']} is {backtest['status']}: only COMPLETED ones")
    if backtest.get("imported"):
        raise ProblemError(409, "Conflict", f"backtest {backtest['id']} was imported: share the bundle it came from")
    result = await get_result(backtest, ctx)
    trades = await get_trades(backtest, conn, ctx, "csv")
    portfolio = await get_portfolio(backtest, conn, ctx, False, "csv")
    data = await sharing.export_bundle(conn, backtest, bytes(result.body), bytes(trades.body), bytes(portfolio.body))
    name = f"backtest-{backtest['id']}.zip"
    return Response(
        data, media_type="application/zip", headers={"content-disposition": f'attachment; filename="{name}"'}
    )


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportedOut,
    responses={422: {"description": "not a bundle, or a file in it was changed (the detail names it)"}},
)
async def import_bundle(
    user: CurrentUser, conn: Db, ctx: Ctx, file: Annotated[UploadFile, File(description="a bts backtest export zip")]
) -> ImportedOut:
    """Show a result exported elsewhere: checked against its bundle.json (every file's SHA-256), then listed
    with your backtests as a read-only COMPLETED backtest (`imported: true`)."""
    limit = ctx.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ProblemError(413, "Content Too Large", f"a bundle is at most {limit} bytes")
    root = (ctx.settings.state_dir / "imports").resolve()
    try:
        accepted = await sharing.import_bundle(conn, user, data, root, limit)
    except BundleError as exc:
        raise unprocessable([FieldError(field="body.file", message=str(exc))]) from exc
    return ImportedOut(id=accepted.id, imported_from=accepted.original_id, files=accepted.files)


@router.get("/{backtest_id}/files/{name:path}", name="imported_file", response_class=FileResponse)
async def imported_file(backtest_id: UUID, name: str, user: CurrentUser, conn: Db, backtest: Owned) -> Any:
    """A file of an imported backtest's bundle (its reports' download_url)."""
    found = await sharing.imported(conn, backtest_id)
    if found is None or name not in found.files:
        raise not_found("file", name)
    path = found.folder / PurePosixPath(name)
    if not await asyncio.to_thread(path.is_file):
        raise ProblemError(410, "Gone", f"the file {name} of backtest {backtest_id} no longer exists")
    return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"), filename=path.name)
