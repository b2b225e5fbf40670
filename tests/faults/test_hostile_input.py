"""Hostile CSV files against `bts up` as a user runs it: a file with one 100 MB line, and a volume of 1e23
(beyond bigint). Each used to end in the dead-letter topic with its job stuck (and one bad value sank a
whole `skip_invalid` file). Now strict jobs end FAILED naming the line, `skip_invalid` jobs end COMPLETED
with the bad line as a rejected row, nothing reaches ingest.requested's dead letters, and the invariants
settle. The recovery time printed is from the upload's 202 to a settled stack."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bts.stackfile import StackFile
from services.ingest.csv_source import MAX_LINE_BYTES
from shared.contracts import topics
from shared.platform.kafka.dlq import read_dlq
from tests.faults.invariants import settled
from tests.integration.clients import Api
from tests.integration.stack import started_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SYMBOL = "HOST.NASDAQ"
HUGE_LINE_BYTES = 100 * 1024**2
JOB_ENDS_S = 120  # from the upload's 202 to a terminal job: the 100 MB file is scanned once and parsed once
SETTLES_S = 60  # then every invariant holds
HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = ["2024-01-02,10,11,9,10.5,100\n", "2024-01-04,10,11,9,10.5,100\n", "2024-01-05,10,11,9,10.5,100\n"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFile]:
    with started_stack(tmp_path_factory.mktemp("hostile-state")) as started:
        yield started


@pytest.fixture(scope="module")
def user(stack: StackFile) -> Iterator[Api]:
    api = Api(stack, "hostile")
    body = {
        "id": SYMBOL,
        "symbol": "HOST",
        "exchange": "NASDAQ",
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": 1,
        "margin_requirement": "25",
    }
    response = api.http.post("/instruments", json=body)
    assert response.status_code in (201, 409), response.text
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def huge_line_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Line 3 is one 100 MB field; the other lines are good bars."""
    path = tmp_path_factory.mktemp("hostile-csv") / "huge-line.csv"
    with path.open("w") as file:
        file.write(HEADER + GOOD[0] + "2024-01-03,")
        chunk = "9" * 1024**2
        for _ in range(HUGE_LINE_BYTES // len(chunk)):
            file.write(chunk)
        file.write(",11,9,10.5,100\n" + "".join(GOOD[1:]))
    return path


def _bigint_volume_csv(folder: Path) -> Path:
    path = folder / "volume.csv"
    path.write_text(HEADER + GOOD[0] + "2024-01-03,10,11,9,10.5,1e23\n" + "".join(GOOD[1:]))
    return path


def _import(user: Api, path: Path, skip_invalid: bool) -> tuple[dict[str, Any], float]:
    """Upload, wait for the job to end; the job and the seconds from the 202 on."""
    with path.open("rb") as file:
        form = {"instrument_id": SYMBOL, "timeframe": "BAR_DAILY", "skip_invalid": str(skip_invalid).lower()}
        accepted = user.http.post(
            "/market-data/import", files={"file": (path.name, file, "text/csv")}, data=form, timeout=300
        )
    assert accepted.status_code == 202, accepted.text
    began = time.monotonic()
    job = user.wait(f"/market-data/import/{accepted.json()['job_id']}", {"COMPLETED", "FAILED"}, within=JOB_ENDS_S)
    return job, time.monotonic() - began


def _settle(stack: StackFile, fault: str, job_seconds: float) -> None:
    seconds = job_seconds + asyncio.run(settled(stack.database_url, within_s=SETTLES_S))
    print(f"RECOVERY {fault}: {seconds:.1f} s")
    letters = asyncio.run(read_dlq(stack.kafka_bootstrap, topics.INGEST_REQUESTED, limit=100))
    assert letters == [], [letter.error for letter in letters]


@pytest.mark.parametrize("skip_invalid", [False, True], ids=["strict", "skip_invalid"])
def test_a_csv_with_one_100_mb_line_ends_its_job(
    stack: StackFile, user: Api, huge_line_csv: Path, skip_invalid: bool
) -> None:
    job, seconds = _import(user, huge_line_csv, skip_invalid)
    assert job["rows_rejected"] == 1, job
    assert [(e["line"], e["field"]) for e in job["errors"]] == [(3, "row")], job
    assert f"at most {MAX_LINE_BYTES:,} bytes" in job["errors"][0]["message"]
    if skip_invalid:
        assert job["status"] == "COMPLETED", job
        assert job["rows_loaded"] == 3
    else:
        assert job["status"] == "FAILED", job
        assert job["rows_loaded"] == 0
    _settle(stack, f"100 MB CSV line ({'skip_invalid' if skip_invalid else 'strict'})", seconds)


@pytest.mark.parametrize("skip_invalid", [False, True], ids=["strict", "skip_invalid"])
def test_a_volume_beyond_bigint_is_a_rejected_row_not_a_failed_file(
    stack: StackFile, user: Api, tmp_path: Path, skip_invalid: bool
) -> None:
    job, seconds = _import(user, _bigint_volume_csv(tmp_path), skip_invalid)
    assert [(e["line"], e["field"]) for e in job["errors"]] == [(3, "volume")], job
    assert job["status"] == ("COMPLETED" if skip_invalid else "FAILED"), job
    assert job["rows_loaded"] == (3 if skip_invalid else 0), job
    _settle(stack, f"volume 1e23 ({'skip_invalid' if skip_invalid else 'strict'})", seconds)
