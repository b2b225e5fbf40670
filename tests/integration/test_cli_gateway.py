"""`bts` over a running gateway, as people and scripts use it: summaries, --json, exit codes they can
trust, and a clear message (never a traceback) for bad input or a stack that is not running."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from bts.stackfile import StackFile
from tests.integration.clients import bts, new_user
from tests.integration.market import write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def _key(stack: StackFile, admin: bool = False) -> str:
    return (await new_user(stack, f"cli-{uuid.uuid4().hex[:6]}", admin))[1]


@pytest.fixture(scope="module")
def cli_env(running_stack: StackFile) -> dict[str, str]:
    return {"BTS_API_URL": running_stack.api_url, "BTS_API_KEY": asyncio.run(_key(running_stack))}


def test_a_gateway_that_is_not_running_or_a_missing_key_says_what_to_do(cli_env: dict[str, str]) -> None:
    down = bts("backtest", "list", env={**cli_env, "BTS_API_URL": "http://127.0.0.1:9"})
    assert down.returncode == 1
    assert "not running" in down.stderr
    assert "bts up" in down.stderr
    no_key = bts("backtest", "list", env={"BTS_API_URL": cli_env["BTS_API_URL"]})
    assert no_key.returncode == 1
    assert "BTS_API_KEY" in no_key.stderr
    wrong_key = bts("backtest", "list", env={**cli_env, "BTS_API_KEY": "bts_x_y"})
    assert wrong_key.returncode == 1
    assert "401" in wrong_key.stderr


def test_ingest_then_backtest_from_the_command_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    symbol = f"C{uuid.uuid4().hex[:4].upper()}"
    instrument = f"{symbol}.NASDAQ"
    assert bts("instrument", "add", instrument, env=cli_env).returncode == 0
    again = bts("instrument", "add", instrument, env=cli_env)  # its owner may overwrite it
    assert again.returncode == 0, again.stderr
    assert "overwritten" in again.stdout

    path = tmp_path / "bars.csv"
    write_daily_csv(path, 77)
    loaded = bts("ingest", "csv", str(path), "--instrument", instrument, "--timeframe", "BAR_DAILY", env=cli_env)
    assert loaded.returncode == 0, loaded.stderr
    assert f"loaded 505 rows of {instrument} BAR_DAILY (505 new, 0 changed, 0 unchanged; 0 rejected)" in loaded.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n2021-03-01,10,11,9,10.5,10.5,100\n"
        "2021-03-02,10,9,9.5,10,10,100\n2021-03-03,10,11,9,abc,10,100\n"
    )
    rejected = bts("ingest", "csv", str(bad), "--instrument", instrument, "--json", env=cli_env)
    assert rejected.returncode == 1
    job = json.loads(rejected.stdout)
    assert job["status"] == "FAILED"
    assert {(e["line"], e["field"]) for e in job["errors"]} == {(3, "high"), (4, "close")}

    missing = bts("ingest", "csv", str(tmp_path / "nope.csv"), "--instrument", instrument, env=cli_env)
    assert missing.returncode == 1
    assert "no such file" in missing.stderr
    unknown = bts("ingest", "csv", str(path), "--instrument", "NOPE.NASDAQ", env=cli_env)
    assert unknown.returncode == 1
    assert "unknown instrument NOPE.NASDAQ" in unknown.stderr
    backwards = bts(
        "ingest", "ibkr", "--instrument", instrument, "--start", "2024-02-01", "--end", "2024-01-01", env=cli_env
    )
    assert backwards.returncode == 1
    assert "must be after --start" in backwards.stderr

    created = bts(
        "strategy",
        "create",
        f"sma-{symbol}",
        "--type",
        "SMA_CROSSOVER",
        "-p",
        "fast_period=5",
        "-p",
        "slow_period=20",
        "--activate",
        "--json",
        env=cli_env,
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["status"] == "ACTIVE"
    run = bts(
        "backtest",
        "submit",
        "--strategy",
        f"sma-{symbol}",
        "--instruments",
        instrument,
        "--start",
        "2020-01-01",
        "--end",
        "2021-12-31",
        "--position-size-pct",
        "5",
        "--wait",
        "--json",
        env=cli_env,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["status"] == "COMPLETED"
    assert result["trades_count"] > 0
    assert "total_return" in result["metrics"]["returns"]

    status = json.loads(bts("backtest", "status", result["id"], "--json", env=cli_env).stdout)
    assert status["status"] == "COMPLETED"
    listed = json.loads(bts("backtest", "list", "--json", env=cli_env).stdout)
    assert result["id"] in {b["id"] for b in listed["items"]}
    table = bts("backtest", "result", result["id"], env=cli_env)
    assert table.returncode == 0
    assert "Sharpe" in table.stdout

    unknown_strategy = bts(
        "backtest",
        "submit",
        "--strategy",
        "no-such-strategy",
        "--instruments",
        instrument,
        "--start",
        "2020-01-01",
        "--end",
        "2021-12-31",
        env=cli_env,
    )
    assert unknown_strategy.returncode == 1
    assert "unknown strategy" in unknown_strategy.stderr
    too_short = bts(
        "backtest",
        "submit",
        "--strategy",
        f"sma-{symbol}",
        "--instruments",
        instrument,
        "--start",
        "2020-01-01",
        "--end",
        "2020-01-20",
        env=cli_env,
    )
    assert too_short.returncode == 1
    assert "30 trading days" in too_short.stderr


def test_ops_lag_lists_the_service_groups(running_stack: StackFile, cli_env: dict[str, str]) -> None:
    refused = bts("ops", "lag", env=cli_env)  # operations are for admins
    assert refused.returncode == 1
    assert "admin" in refused.stderr
    cli_env = {**cli_env, "BTS_API_KEY": asyncio.run(_key(running_stack, admin=True))}
    result = bts("ops", "lag", "--json", env=cli_env)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    groups = {r["group"] for r in rows}
    assert {"bts-api", "bts-ingest"} <= groups  # both have consumed by now (the uploads above)
    assert all(r["lag"] is None or r["lag"] >= 0 for r in rows)
    assert bts("ops", "lag", env=cli_env).returncode == 0
