"""The data-quality report of an import, end to end through `bts up`: the CLI's lines per kind, the job's
warnings and rejects over REST, and CLI errors that name the flag, not the API field."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from bts.stackfile import StackFile
from tests.integration.clients import bts, new_user

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

FIXTURES = Path(__file__).parent.parent / "fixtures" / "quality"


@pytest.fixture(scope="module")
def cli_env(running_stack: StackFile) -> dict[str, str]:
    key = asyncio.run(new_user(running_stack, f"quality-{uuid.uuid4().hex[:6]}"))[1]
    return {"BTS_API_URL": running_stack.api_url, "BTS_API_KEY": key}


def _instrument(env: dict[str, str]) -> str:
    instrument = f"Q{uuid.uuid4().hex[:5].upper()}.NYSE"
    added = bts("instrument", "add", instrument, env=env)
    assert added.returncode == 0, added.stderr
    return instrument


def _ingest(env: dict[str, str], name: str, *options: str) -> tuple[str, dict[str, Any]]:
    """(what `bts ingest csv` printed, the job as GET /market-data/import/{id} returns it)."""
    instrument = _instrument(env)
    path = str(FIXTURES / name)
    shown = bts("ingest", "csv", path, "--instrument", instrument, *options, env=env)
    assert shown.returncode == 0, shown.stderr
    as_json = bts("ingest", "csv", path, "--instrument", instrument, "--json", *options, env=env)  # a re-import
    assert as_json.returncode == 0, as_json.stderr
    return shown.stdout, json.loads(as_json.stdout)


def test_a_five_session_hole_is_reported_as_one_gap(cli_env: dict[str, str]) -> None:
    printed, job = _ingest(cli_env, "spy_gap_2020.csv")
    assert "GAP x1: 2020-10-12..2020-10-16 5 session(s) of XNYS without a bar" in printed
    assert job["status"] == "COMPLETED"
    assert job["rows_loaded"] == 58
    assert job["warning_counts"] == {"GAP": 1}
    assert [(w["kind"], w["start"], w["end"], w["timeframe"]) for w in job["warnings"]] == [
        ("GAP", "2020-10-12", "2020-10-16", "BAR_DAILY")
    ]
    assert job["warnings"][0]["instrument_id"] == job["instrument_id"]


def test_a_split_pair_and_a_stale_tail_are_reported(cli_env: dict[str, str]) -> None:
    printed, job = _ingest(cli_env, "split_2to1_2022.csv")
    assert "SPLIT_SUSPECT x1: 2022-07-18 2:1: close " in printed
    assert [(w["kind"], w["start"]) for w in job["warnings"]] == [("SPLIT_SUSPECT", "2022-07-18")]
    printed, job = _ingest(cli_env, "stale_tail_2023.csv")
    assert "STALE x2: 2023-12-19..2023-12-29 identical OHLC" in printed
    assert "2023-12-20..2023-12-29 zero volume in 7 bar(s) over 7 sessions" in printed
    assert job["warning_counts"] == {"STALE": 2}


def test_rows_outside_the_data_range_are_rejected_with_that_reason(cli_env: dict[str, str]) -> None:
    instrument = _instrument(cli_env)
    strict = bts("ingest", "csv", str(FIXTURES / "out_of_range.csv"), "--instrument", instrument, "--json", env=cli_env)
    assert strict.returncode == 1
    job = json.loads(strict.stdout)
    assert job["status"] == "FAILED"
    assert [(e["line"], e["message"]) for e in job["errors"]] == [
        (2, "2018-12-31 is outside the data range 2019-01-01..2024-12-31"),
        (16, "2025-01-02 is outside the data range 2019-01-01..2024-12-31"),
    ]
    _, job = _ingest(cli_env, "out_of_range.csv", "--skip-invalid")
    assert (job["rows_loaded"], job["rows_rejected"]) == (13, 2)
    assert job["warning_counts"] == {"GAP": 1}  # 2019-01-11 .. 2024-12-20: the file has two ends only


def test_hourly_bars_keep_the_last_partial_bar_and_reject_extended_hours(cli_env: dict[str, str]) -> None:
    options = ("--timeframe", "BAR_1HOUR", "--skip-invalid")
    printed, job = _ingest(cli_env, "msft_hourly_2024.csv", *options)
    assert (job["rows_loaded"], job["rows_rejected"]) == (35, 2)  # 7 bars a session, 15:30 included
    assert [(e["line"], e["message"]) for e in job["errors"]] == [
        (9, "pre-market: 08:00 is before the 09:30 open (America/New_York, 2024-03-05)"),
        (38, "post-market: 16:00 is at or after the 16:00 close (America/New_York, 2024-03-08)"),
    ]
    assert job["warnings"] == []
    assert "warning" not in printed


def test_cli_errors_name_the_flag_not_the_api_field(cli_env: dict[str, str]) -> None:
    name = f"sma-{uuid.uuid4().hex[:6]}"
    created = bts(
        "strategy",
        "create",
        name,
        "--type",
        "SMA_CROSSOVER",
        "-p",
        "fast_period=5",
        "-p",
        "slow_period=20",
        "--activate",
        env=cli_env,
    )
    assert created.returncode == 0, created.stderr
    early = bts(
        "backtest", "submit", "-s", name, "-i", "SPY.NYSE", "--start", "2018-06-01", "--end", "2019-06-28", env=cli_env
    )
    assert early.returncode == 1
    assert "--start: dates must be within 2019-01-01..2024-12-31, got 2018-06-01" in early.stderr
    assert "body.start_date" not in early.stderr
    hourly = bts(
        "sweep",
        "submit",
        "--type",
        "SMA_CROSSOVER",
        "-g",
        "fast_period=5,10",
        "-p",
        "slow_period=20",
        "-i",
        "NOPE.NYSE",
        "--start",
        "2019-01-02",
        "--end",
        "2019-12-31",
        "--timeframe",
        "BAR_1HOUR",
        env=cli_env,
    )
    assert hourly.returncode == 1
    assert "--instruments (item 0): unknown instrument NOPE.NYSE" in hourly.stderr
