"""Share a result: export a finished backtest as a bundle (services/api/domain/bundle.py), and import one made
by another installation as a read-only backtest of the caller's, served from its checked files.

An imported backtest has a status row (COMPLETED, `imported`) like any other, so it is listed, filtered and
deleted the same way; its result, trades, portfolio and reports come from the bundle's files, kept under
the state dir (imports/<id>/), never from the engine (it was not run here).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path, PurePath
from typing import Any
from uuid import UUID

from services.api.domain.bundle import Bundle, read_bundle, sha256, write_bundle
from shared.platform.db.reads import fetch_manifest, fetch_reports
from shared.platform.db.types import Connection

REPORTS = "reports/"


@dataclass(frozen=True)
class Imported:
    folder: Path
    files: dict[str, dict[str, Any]]
    original_id: UUID

    def read(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def reports(self) -> list[str]:
        return sorted(n for n in self.files if n.startswith(REPORTS))


async def imported(conn: Connection, backtest_id: UUID) -> Imported | None:
    row = await conn.fetchrow(
        "SELECT folder, files, original_id FROM api.imported_backtests WHERE id = $1", backtest_id
    )
    if row is None:
        return None
    files = json.loads(row["files"]) if isinstance(row["files"], str) else row["files"]
    return Imported(Path(row["folder"]), files, row["original_id"])


async def export_bundle(
    conn: Connection, backtest: dict[str, Any], result_body: bytes, trades_csv: bytes, portfolio_csv: bytes
) -> bytes:
    """The bundle of a finished backtest: its result, manifest, trades, portfolio and report files."""
    files = {"result.json": result_body, "trades.csv": trades_csv, "portfolio.csv": portfolio_csv}
    manifest = await fetch_manifest(conn, backtest["id"])
    if manifest is not None:
        files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
    for report in await fetch_reports(conn, backtest["id"]):
        path = Path(report["file_path"])
        if await asyncio.to_thread(path.is_file):
            files[REPORTS + PurePath(path).name] = await asyncio.to_thread(path.read_bytes)
    summary = {
        k: backtest.get(k) for k in ("strategy_type", "instrument_ids", "start_date", "end_date", "submitted_at")
    }
    return write_bundle(str(backtest["id"]), summary, files, datetime.now(UTC))


@dataclass(frozen=True)
class ImportAccepted:
    id: UUID
    original_id: UUID
    files: list[str]


async def import_bundle(conn: Connection, user: UUID, data: bytes, root: Path, max_bytes: int) -> ImportAccepted:
    """Check the bundle (BundleError says what is wrong), keep its files, list it with the user's backtests."""
    bundle = read_bundle(data, max_bytes)
    new_id = uuid.uuid4()
    folder = root / str(new_id)
    await asyncio.to_thread(_write_files, folder, bundle)
    try:
        await _record(conn, user, new_id, bundle, folder, sha256(data))
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, folder, True)
        raise
    return ImportAccepted(new_id, UUID(str(bundle.index["backtest_id"])), sorted(bundle.files))


def _write_files(folder: Path, bundle: Bundle) -> None:
    for name, content in bundle.files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def _day(value: Any) -> date | None:
    return date.fromisoformat(str(value)) if value else None  # checked by read_bundle


async def _record(conn: Connection, user: UUID, new_id: UUID, bundle: Bundle, folder: Path, digest: str) -> None:
    summary = bundle.index.get("summary") or {}
    result = bundle.result
    now = datetime.now(UTC)
    instruments = [str(i) for i in summary.get("instrument_ids") or []]
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO api.backtest_status (id, user_id, status, progress_pct, submitted_at, updated_at, "
            "strategy_type, instrument_ids, start_date, end_date, imported) "
            "VALUES ($1, $2, 'COMPLETED', 100, $3, $3, $4, $5, $6, $7, true)",
            new_id,
            user,
            now,
            summary.get("strategy_type"),
            instruments,
            _day(summary.get("start_date") or result.get("start_date")),
            _day(summary.get("end_date") or result.get("end_date")),
        )
        await conn.execute(
            "INSERT INTO api.imported_backtests (id, user_id, original_id, bundle_sha256, folder, files, imported_at) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)",
            new_id,
            user,
            UUID(str(bundle.index["backtest_id"])),
            digest,
            str(folder),
            json.dumps(bundle.index["files"]),
            now,
        )


def result_body(files: Imported, backtest_id: UUID) -> bytes:
    """The stored result.json, under its id here (the original's is kept as `imported_from`)."""
    result = json.loads(files.read("result.json"))
    result["imported_from"] = result.get("id")
    result["id"] = str(backtest_id)
    return json.dumps(result).encode()


def csv_rows(content: bytes) -> list[dict[str, Any]]:
    """A stored CSV as rows: empty cells are null, JSON cells (positions) parsed."""
    rows = []
    for row in csv.DictReader(io.StringIO(content.decode())):
        values: dict[str, Any] = {}
        for key, value in row.items():
            values[key] = None if value == "" else (json.loads(value) if value[:1] in "[{" else value)
        rows.append(values)
    return rows


async def forget_files(conn: Connection, backtest_id: UUID) -> None:
    """An imported backtest being deleted: its files go (its rows go with the status row, ON DELETE CASCADE)."""
    files = await imported(conn, backtest_id)
    if files is not None:
        await asyncio.to_thread(shutil.rmtree, files.folder, True)
