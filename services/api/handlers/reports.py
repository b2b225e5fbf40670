"""/reports/{id}/download: a report file, for its owner only."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import anyio
from fastapi import APIRouter
from fastapi.responses import FileResponse

from services.api.auth import CurrentUser
from services.api.handlers.deps import Db
from services.api.problems import ProblemError, not_found
from services.api.repository.backtests import status_row
from shared.platform.db.reads import fetch_report

router = APIRouter(prefix="/reports", tags=["reports"])
MEDIA = {"HTML": "text/html", "CSV": "text/csv", "JSON": "application/json"}


@router.get(
    "/{report_id}/download",
    name="download_report",
    response_class=FileResponse,
    responses={
        200: {"content": {"text/html": {}, "text/csv": {}, "application/json": {}}},
        410: {"description": "the file is gone (retention)"},
    },
)
async def download(report_id: UUID, user: CurrentUser, conn: Db) -> FileResponse:
    report = await fetch_report(conn, report_id)
    if report is None or await status_row(conn, user, report["backtest_result_id"]) is None:
        raise not_found("report", report_id)
    path = Path(report["file_path"])
    if not await anyio.Path(path).is_file():
        raise ProblemError(410, "Gone", f"the file of report {report_id} no longer exists")
    return FileResponse(
        path, media_type=MEDIA.get(report["report_type"], "application/octet-stream"), filename=path.name
    )
