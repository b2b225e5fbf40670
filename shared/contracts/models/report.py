"""PerformanceReport: a generated file (HTML, CSV, JSON) and the SHA-256 of its content."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.models.enums import ReportType
from shared.contracts.models.errors import DomainError


class PerformanceReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    backtest_result_id: UUID
    report_type: ReportType
    generated_at: AwareDatetime
    file_path: str = Field(min_length=1)
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, lower-case hex")
    metadata: dict[str, Any] = Field(default_factory=dict)


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_report_file(report: PerformanceReport) -> None:
    """ "File must exist at file_path" and "Content hash must match file"."""
    path = Path(report.file_path)
    if not path.is_file():
        raise DomainError(f"file missing at {path}")
    found = sha256_of_file(path)
    if found != report.content_hash:
        raise DomainError(f"content hash mismatch for {path}: expected {report.content_hash}, found {found}")
