"""Shared results: a bundle written by export reads back whole; any change to a file inside is caught."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime

import pytest

from services.api.domain.bundle import INDEX, BundleError, read_bundle, sha256, write_bundle

ORIGINAL = "0f0e0d0c-0b0a-4908-8706-050403020100"
RESULT = {"id": ORIGINAL, "status": "COMPLETED", "metrics": {"returns": {"total_return": 0.1}}}
FILES = {
    "result.json": json.dumps(RESULT).encode(),
    "trades.csv": b"instrument_id,side\nAAA.NASDAQ,LONG\n",
    "portfolio.csv": b"timestamp,total_value\n2020-01-02,100000\n",
    "reports/report.html": b"<html></html>",
}
WHEN = datetime(2026, 1, 2, tzinfo=UTC)


def _bundle(files: dict[str, bytes] = FILES) -> bytes:
    return write_bundle(ORIGINAL, {"strategy_type": "SMA_CROSSOVER", "start_date": "2020-01-02"}, files, WHEN)


def _rezip(data: bytes, change: dict[str, bytes | None]) -> bytes:
    """The same zip with files replaced (or removed: None), bundle.json untouched unless given."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name in [*source.namelist(), *(n for n in change if n not in source.namelist())]:
            content = change[name] if name in change else source.read(name)
            if content is not None:
                target.writestr(name, content)
    return buffer.getvalue()


def test_a_bundle_reads_back_with_every_file_and_its_hash() -> None:
    bundle = read_bundle(_bundle(), 10**6)
    assert bundle.files == FILES
    assert bundle.result == RESULT
    assert bundle.index["files"]["trades.csv"] == {
        "sha256": sha256(FILES["trades.csv"]),
        "bytes": len(FILES["trades.csv"]),
    }
    assert bundle.index["summary"] == {"strategy_type": "SMA_CROSSOVER", "start_date": "2020-01-02"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trades.csv": b"instrument_id,side\nAAA.NASDAQ,SHORT\n"}, "trades.csv: its SHA-256 or size differs"),
        ({"portfolio.csv": None}, "portfolio.csv: listed in bundle.json but missing"),
        ({"extra.txt": b"x"}, "extra.txt: in the zip but not in bundle.json"),
        ({INDEX: None}, "bundle.json is missing"),
        ({INDEX: b"{}"}, "format must be"),
    ],
)
def test_a_changed_bundle_is_refused_naming_the_file(change: dict[str, bytes | None], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        read_bundle(_rezip(_bundle(), change), 10**6)


def test_only_completed_results_and_real_zips_within_the_limit_are_read() -> None:
    failed = {**FILES, "result.json": json.dumps({**RESULT, "status": "FAILED"}).encode()}
    with pytest.raises(BundleError, match="only a COMPLETED result"):
        read_bundle(_bundle(failed), 10**6)
    with pytest.raises(BundleError, match="not a zip file"):
        read_bundle(b"PK not really", 10**6)
    with pytest.raises(BundleError, match="unpacks to more than"):
        read_bundle(_bundle(), 10)
    without = {k: v for k, v in FILES.items() if k != "trades.csv"}
    with pytest.raises(BundleError, match=r"trades\.csv: a bundle must hold it"):
        read_bundle(_bundle(without), 10**6)
    with pytest.raises(BundleError, match="not a file a bundle holds"):
        write_bundle(ORIGINAL, {}, {"../etc/passwd": b""}, WHEN)


def test_a_bundle_whose_index_is_not_about_a_backtest_is_refused() -> None:
    with pytest.raises(BundleError, match="backtest_id"):
        read_bundle(write_bundle("not-an-id", {}, FILES, WHEN), 10**6)
    with pytest.raises(BundleError, match=r"summary\.start_date"):
        read_bundle(write_bundle(ORIGINAL, {"start_date": "someday"}, FILES, WHEN), 10**6)
    with pytest.raises(BundleError, match=r"summary\.instrument_ids"):
        read_bundle(write_bundle(ORIGINAL, {"instrument_ids": "AAA"}, FILES, WHEN), 10**6)
