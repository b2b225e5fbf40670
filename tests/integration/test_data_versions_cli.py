"""Versioned market data and coverage on a real `bts up` stack, as a quant uses them: a re-import of another
vendor's file between a backtest and its reproduction does not change the reproduction (`bts backtest
reproduce`), `--latest-data` runs on the new bars, `bts data history` lists both imports, `bts data coverage`
shows a week's gap, and a date-only `end` of a bar read includes that day."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bts.stackfile import StackFile
from tests.integration.clients import PROBLEM, Api, bts, nasdaq_instrument
from tests.integration.market import write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _register(api: Api, symbol: str) -> None:
    body = nasdaq_instrument(symbol)
    assert api.http.post("/instruments", json=body).status_code == 201


def _upload(api: Api, path: Path, instrument: str) -> dict[str, Any]:
    with path.open("rb") as file:
        accepted = api.http.post(
            "/market-data/import",
            files={"file": (path.name, file, "text/csv")},
            data={"instrument_id": instrument, "timeframe": "BAR_DAILY"},
        )
    assert accepted.status_code == 202, accepted.text
    job = api.wait(f"/market-data/import/{accepted.json()['job_id']}", {"COMPLETED", "FAILED"})
    assert job["status"] == "COMPLETED", job
    return job


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("versions-csv")


@pytest.fixture(scope="module")
def quant(running_stack: StackFile, folder: Path) -> Iterator[Api]:
    """VSA with two years of daily bars; VSG the same but for a week without bars (2020-10-12..16)."""
    api = Api(running_stack, "quant")
    for symbol in ("VSA", "VSG"):
        _register(api, symbol)
    write_daily_csv(folder / "vsa.csv", 70)
    _upload(api, folder / "vsa.csv", "VSA.NASDAQ")
    write_daily_csv(folder / "vsg.csv", 71)
    frame = pd.read_csv(folder / "vsg.csv")
    hole = (frame["timestamp"] >= "2020-10-12") & (frame["timestamp"] <= "2020-10-16")
    frame[~hole].to_csv(folder / "vsg.csv", index=False)
    _upload(api, folder / "vsg.csv", "VSG.NASDAQ")
    yield api
    api.http.close()


def _env(api: Api, stack: StackFile) -> dict[str, str]:
    return {"BTS_API_URL": stack.api_url, "BTS_API_KEY": api.key}


def test_a_reimport_between_a_run_and_its_reproduction_does_not_change_it_unless_latest_data(
    running_stack: StackFile, quant: Api, folder: Path
) -> None:
    created = quant.http.post(
        "/strategies",
        json={
            "name": "sma versions",
            "strategy_type": "SMA_CROSSOVER",
            "parameters": {"fast_period": 5, "slow_period": 20},
        },
    )
    assert created.status_code == 201, created.text
    strategy_id = created.json()["id"]
    assert quant.http.post(f"/strategies/{strategy_id}/activate").status_code == 200
    accepted = quant.http.post(
        "/backtests",
        json={
            "strategy_id": strategy_id,
            "instrument_ids": ["VSA.NASDAQ"],
            "start_date": "2020-01-01",
            "end_date": "2021-12-31",
            "position_size_pct": "5",
        },
    )
    assert accepted.status_code == 202, accepted.text
    original = accepted.json()["id"]
    assert quant.wait(f"/backtests/{original}", {"COMPLETED", "FAILED"}, within=300)["status"] == "COMPLETED"
    as_of = quant.http.get(f"/backtests/{original}/manifest").json()["data_as_of"]
    assert as_of is not None
    result = quant.http.get(f"/backtests/{original}/result").json()
    assert datetime.fromisoformat(result["data_as_of"]) == datetime.fromisoformat(as_of)

    # Another vendor's file: the same sessions, 2% higher from November 2020 to February 2021 (80 sessions).
    frame = pd.read_csv(folder / "vsa.csv")
    inside = (frame["timestamp"] >= "2020-11-02") & (frame["timestamp"] <= "2021-02-26")
    for column in ("open", "high", "low", "close"):
        frame.loc[inside, column] = (frame.loc[inside, column] * 1.02).round(2)
    other = folder / "vsa-other.csv"
    frame.to_csv(other, index=False)
    job = _upload(quant, other, "VSA.NASDAQ")
    assert (job["rows_inserted"], job["rows_updated"]) == (0, 80)

    env = _env(quant, running_stack)
    history = bts("data", "history", "VSA.NASDAQ", "--json", env=env)
    assert history.returncode == 0, history.stderr
    versions = json.loads(history.stdout)
    assert [(v["inserted"], v["updated"]) for v in versions] == [(505, 0), (0, 80)]
    assert versions[1]["recorded_at"] > as_of
    table = bts("data", "history", "VSA.NASDAQ", "--timeframe", "BAR_DAILY", env=env)
    assert table.returncode == 0, table.stderr
    assert "2020-01-02 .. 2021-12-31" in table.stdout

    same = bts("backtest", "reproduce", original, "--json", env=env)
    assert same.returncode == 0, same.stdout + same.stderr
    report = json.loads(same.stdout)
    assert report["trades_match"] is True
    assert all(check["same"] for check in report["checks"]), report["checks"]

    latest = bts("backtest", "reproduce", original, "--latest-data", "--json", env=env)
    assert latest.returncode == 1, latest.stdout + latest.stderr
    report = json.loads(latest.stdout)
    assert report["trades_match"] is False
    differ = {c["what"] for c in report["checks"] if not c["same"]}
    assert {"bars VSA.NASDAQ", "data as of", "trades"} <= differ

    accepted = quant.http.post(f"/backtests/{original}/reproduce", json={"latest_data": False})
    assert accepted.status_code == 202, accepted.text
    assert datetime.fromisoformat(accepted.json()["data_as_of"]) == datetime.fromisoformat(as_of)
    assert quant.http.post(f"/backtests/{original}/reproduce", json={"latest": True}).status_code == 422


def test_coverage_shows_first_last_bars_expected_sessions_and_a_gap(running_stack: StackFile, quant: Api) -> None:
    rows = quant.http.get("/market-data/coverage", params={"instrument_id": "VSG.NASDAQ"}).json()
    assert len(rows) == 1
    (row,) = rows
    assert row["timeframe"] == "BAR_DAILY"
    assert (row["bars"], row["sessions_with_bars"], row["expected_sessions"]) == (500, 500, 505)
    assert (row["gap_sessions"], row["gap_ranges"]) == (5, 1)
    assert row["gaps"] == [{"start": "2020-10-12", "end": "2020-10-16"}]
    assert row["first_bar"].startswith("2020-01-02")
    assert row["last_bar"].startswith("2021-12-31")
    assert row["adjustment"] == "RAW"
    assert row["last_import"] is not None
    everything = {(r["instrument_id"], r["timeframe"]) for r in quant.http.get("/market-data/coverage").json()}
    assert {("VSA.NASDAQ", "BAR_DAILY"), ("VSG.NASDAQ", "BAR_DAILY")} <= everything

    env = _env(quant, running_stack)
    printed = bts("data", "coverage", "--instrument", "VSG.NASDAQ", env=env)
    assert printed.returncode == 0, printed.stderr
    assert "500/505" in printed.stdout
    assert "5 sessions: 2020-10-12..2020-10-16" in printed.stdout
    as_json = bts("data", "coverage", "--json", "--timeframe", "BAR_DAILY", env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert {"VSA.NASDAQ", "VSG.NASDAQ"} <= {r["instrument_id"] for r in json.loads(as_json.stdout)}

    missing = quant.http.get("/market-data/NOPE.NASDAQ/history")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)
    unknown = bts("data", "history", "NOPE.NASDAQ", env=env)
    assert unknown.returncode == 1
    assert "NOPE.NASDAQ does not exist" in unknown.stderr


def test_a_date_only_end_includes_its_day_and_a_timestamp_end_excludes_it(quant: Api) -> None:
    def last_bar(end: str) -> str:
        response = quant.http.get(
            "/market-data/VSA.NASDAQ", params={"timeframe": "BAR_DAILY", "start": "2021-12-20", "end": end}
        )
        assert response.status_code == 200, response.text
        bars: list[dict[str, Any]] = response.json()
        return str(bars[-1]["timestamp"])[:10]

    assert last_bar("2021-12-30") == "2021-12-30"  # the day included
    assert last_bar("2021-12-30T00:00:00Z") == "2021-12-29"  # the instant excluded
    bad = quant.http.get(
        "/market-data/VSA.NASDAQ", params={"timeframe": "BAR_DAILY", "start": "2021-12-20", "end": "2021-12-32"}
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith(PROBLEM)
    assert bad.json()["errors"][0]["field"] == "query.end"
    assert "YYYY-MM-DD (that day included)" in bad.json()["errors"][0]["message"]
