"""benchmark_symbol at the gateway on a real `bts up` stack: a bare symbol listed twice (SPY.ARCA and
SPY.NYSEARCA, both with bars) or unknown is a 422 naming the candidates, for backtests and sweeps; an
instrument id runs, and the result, manifest and reports name what it resolved to and count closed trades.

Its period is 2022-2023: on the shared stack the default benchmark's one listing with bars of 2020-2021 is
SPY.NASDAQ (conftest.py), and these two listings must not make the other modules' default ambiguous."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bts.stackfile import StackFile
from tests.integration.clients import PROBLEM, Api
from tests.integration.market import daily_frame, load_daily_listing, load_daily_symbols

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PERIOD = {"start_date": "2022-01-03", "end_date": "2023-12-29"}
AMBIGUOUS = (
    "benchmark_symbol SPY: ambiguous: 2 instruments with symbol SPY have daily bars in the period "
    "(SPY.ARCA, SPY.NYSEARCA); name one by its instrument id"
)


@pytest.fixture(scope="module")
def alice(running_stack: StackFile, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """GBA.NASDAQ and two SPY listings with daily bars of the period, and an active SMA 5/20 strategy."""
    folder = tmp_path_factory.mktemp("benchmark-bars")
    start, end = PERIOD["start_date"], PERIOD["end_date"]
    asyncio.run(load_daily_symbols(running_stack.database_url, folder, ("GBA",), start, end))
    for seed, exchange in enumerate(("ARCA", "NYSEARCA")):
        frame = daily_frame(exchange, 20 + seed, start, end)
        asyncio.run(load_daily_listing(running_stack.database_url, folder, "SPY", exchange, frame))
    api = Api(running_stack, "alice")
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def strategy_id(alice: Api) -> str:
    body = {"name": "benchmark", "strategy_type": "SMA_CROSSOVER", "parameters": {"fast_period": 5, "slow_period": 20}}
    created = alice.http.post("/strategies", json=body)
    assert created.status_code == 201, created.text
    assert alice.http.post(f"/strategies/{created.json()['id']}/activate").status_code == 200
    return str(created.json()["id"])


def _errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_an_ambiguous_or_unknown_benchmark_is_a_422_naming_the_candidates(alice: Api, strategy_id: str) -> None:
    body = {"strategy_id": strategy_id, "instrument_ids": ["GBA.NASDAQ"], **PERIOD}
    assert _errors(alice.http.post("/backtests", json=body)) == {"body.benchmark_symbol": AMBIGUOUS}  # the default
    unknown = _errors(alice.http.post("/backtests", json={**body, "benchmark_symbol": "DIA"}))
    assert unknown == {
        "body.benchmark_symbol": "benchmark_symbol DIA: no instrument has the id or symbol DIA (register it: "
        "POST /instruments)"
    }
    no_data = _errors(
        alice.http.post(
            "/backtests",
            json={**body, "benchmark_symbol": "GBA.NASDAQ", "start_date": "2020-01-02", "end_date": "2020-12-31"},
        )
    )
    assert "GBA.NASDAQ has 0 daily bar(s) in the period" in no_data["body.benchmark_symbol"]
    sweep = {
        "strategy_type": "SMA_CROSSOVER",
        "instrument_ids": ["GBA.NASDAQ"],
        "position_size_pct": "5",
        "grid": {"fast_period": [5, 10], "slow_period": [20]},
        **PERIOD,
    }
    assert _errors(alice.http.post("/sweeps", json=sweep)) == {"body.benchmark_symbol": AMBIGUOUS}


def test_an_instrument_id_runs_and_is_recorded_with_closed_trade_counts(alice: Api, strategy_id: str) -> None:
    body = {"strategy_id": strategy_id, "instrument_ids": ["GBA.NASDAQ"], "benchmark_symbol": "SPY.ARCA", **PERIOD}
    accepted = alice.http.post("/backtests", json=body)
    assert accepted.status_code == 202, accepted.text
    backtest_id = accepted.json()["id"]
    assert alice.wait(f"/backtests/{backtest_id}", {"COMPLETED", "FAILED"}, within=180)["status"] == "COMPLETED"
    result = alice.http.get(f"/backtests/{backtest_id}/result").json()
    assert result["benchmark_instrument_id"] == "SPY.ARCA"
    assert result["metrics"]["benchmark"]["beta"] is not None
    trades = alice.http.get(f"/backtests/{backtest_id}/trades").json()
    closed = [t for t in trades if t["exit_time"] is not None]
    assert (result["trades_count"], result["open_trades"]) == (len(closed), len(trades) - len(closed))
    manifest = alice.http.get(f"/backtests/{backtest_id}/manifest").json()
    assert (manifest["benchmark"]["symbol"], manifest["benchmark"]["instrument_id"]) == ("SPY.ARCA", "SPY.ARCA")
    deadline = time.monotonic() + 120  # the reports follow the result
    while len(reports := alice.http.get(f"/backtests/{backtest_id}/reports").json()) < 3:
        assert time.monotonic() < deadline, reports
        time.sleep(0.5)
    by_type = {r["report_type"]: alice.http.get(r["download_url"]).text for r in reports}
    document = json.loads(by_type["JSON"])
    assert (document["trades_count"], document["open_trades"]) == (result["trades_count"], result["open_trades"])
    assert document["benchmark_instrument_id"] == "SPY.ARCA"
    assert "Closed trades" in by_type["HTML"]
    assert "commissions are rounded to the cent, half up" in by_type["HTML"]
