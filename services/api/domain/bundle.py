"""A shared result: the zip `bts backtest export` writes and `bts backtest import` reads (docs/api.md, Sharing).

Inside: `bundle.json` (what it is, the backtest's summary, and every other file with its SHA-256 and size),
`result.json` (the result as GET /backtests/{id}/result serves it), `manifest.json` (what the run was computed
from, when there is one), `trades.csv`, `portfolio.csv` and `reports/<file>` (the HTML, CSV and JSON reports).
Anyone can check a bundle: recompute each file's SHA-256 and compare it with bundle.json. Pure: bytes in,
bytes out.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

FORMAT = "bts-backtest-bundle"
VERSION = 1
INDEX = "bundle.json"
REQUIRED = ("result.json", "trades.csv", "portfolio.csv")
NAME = re.compile(r"^(result\.json|manifest\.json|trades\.csv|portfolio\.csv|reports/[A-Za-z0-9][A-Za-z0-9._-]{0,99})$")
MAX_FILES = 32


class BundleError(ValueError):
    """Not a bundle this installation can show: the message says which file and what is wrong."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_bundle(backtest_id: str, summary: dict[str, Any], files: dict[str, bytes], exported_at: datetime) -> bytes:
    """The zip of `files` (names as in NAME) with its index."""
    for name in files:
        if not NAME.match(name):
            raise BundleError(f"{name}: not a file a bundle holds")
    index = {
        "format": FORMAT,
        "version": VERSION,
        "backtest_id": backtest_id,
        "exported_at": exported_at.isoformat(),
        "summary": summary,
        "files": {name: {"sha256": sha256(data), "bytes": len(data)} for name, data in sorted(files.items())},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(INDEX, json.dumps(index, indent=2, sort_keys=True, default=str))
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


@dataclass(frozen=True)
class Bundle:
    index: dict[str, Any]
    files: dict[str, bytes]

    @property
    def result(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.files["result.json"])
        return loaded


# what a damaged or hostile zip can raise while it is read
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
)


def read_bundle(data: bytes, max_bytes: int) -> Bundle:
    """The checked contents of a bundle: every file listed, none unlisted, each with its recorded SHA-256 and
    size, within `max_bytes` unpacked; BundleError naming the first problem otherwise."""
    try:
        bundle = _read(data, max_bytes)
    except BundleError:
        raise
    except ZIP_ERRORS as exc:
        raise BundleError(f"not a readable zip file: {exc}") from exc
    _check_summary(bundle.index)
    return bundle


def _check_summary(index: dict[str, Any]) -> None:
    try:
        uuid.UUID(str(index.get("backtest_id")))
    except ValueError as exc:
        raise BundleError(f"{INDEX}: backtest_id must be the exported backtest's id") from exc
    summary = index.get("summary")
    if not isinstance(summary, dict):
        raise BundleError(f"{INDEX}: summary must be an object")
    instruments = summary.get("instrument_ids") or []
    if not isinstance(instruments, list) or not all(isinstance(i, str) and len(i) <= 64 for i in instruments):
        raise BundleError(f"{INDEX}: summary.instrument_ids must be a list of instrument ids")
    kind = summary.get("strategy_type")
    if kind is not None and not (isinstance(kind, str) and len(kind) <= 64):
        raise BundleError(f"{INDEX}: summary.strategy_type must be a strategy type's name")
    for field in ("start_date", "end_date"):
        value = summary.get(field)
        try:
            if value is not None:
                date.fromisoformat(str(value))
        except ValueError as exc:
            raise BundleError(f"{INDEX}: summary.{field} must be a date (YYYY-MM-DD)") from exc


def _read(data: bytes, max_bytes: int) -> Bundle:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise BundleError(f"not a zip file: {exc}") from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_FILES + 1:
            raise BundleError(f"{len(entries)} files: a bundle holds at most {MAX_FILES + 1}")
        if sum(e.file_size for e in entries) > max_bytes:
            raise BundleError(f"unpacks to more than {max_bytes} bytes")
        names = {e.filename for e in entries}
        if INDEX not in names:
            raise BundleError(f"{INDEX} is missing: not a bundle of `bts backtest export`")
        try:
            index = json.loads(archive.read(INDEX))
        except ValueError as exc:
            raise BundleError(f"{INDEX}: not JSON ({exc})") from exc
        if not isinstance(index, dict) or index.get("format") != FORMAT or index.get("version") != VERSION:
            raise BundleError(f"{INDEX}: format must be {FORMAT!r} version {VERSION}")
        listed = index.get("files")
        if not isinstance(listed, dict):
            raise BundleError(f"{INDEX}: 'files' must map each file to its sha256 and bytes")
        unlisted = sorted(names - set(listed) - {INDEX})
        if unlisted:
            raise BundleError(f"{unlisted[0]}: in the zip but not in {INDEX}")
        files: dict[str, bytes] = {}
        for name, facts in sorted(listed.items()):
            if not NAME.match(name):
                raise BundleError(f"{name}: not a file a bundle holds")
            if name not in names:
                raise BundleError(f"{name}: listed in {INDEX} but missing")
            content = archive.read(name)
            if (
                not isinstance(facts, dict)
                or facts.get("sha256") != sha256(content)
                or facts.get("bytes") != len(content)
            ):
                raise BundleError(f"{name}: its SHA-256 or size differs from {INDEX}: the file was changed")
            files[name] = content
    for name in REQUIRED:
        if name not in files:
            raise BundleError(f"{name}: a bundle must hold it")
    bundle = Bundle(index, files)
    try:
        result = bundle.result
    except ValueError as exc:
        raise BundleError(f"result.json: not JSON ({exc})") from exc
    if not isinstance(result, dict) or result.get("status") != "COMPLETED":
        raise BundleError("result.json: only a COMPLETED result can be shared")
    return bundle
