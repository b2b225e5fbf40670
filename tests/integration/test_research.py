"""Research workflows on a real `bts up` stack: strategy types from the registry (and the example plugin
when it is installed), run manifests, `bts backtest reproduce` and comparisons (JSON and the HTML report)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bts.stackfile import StackFile
from shared.contracts import topics
from shared.contracts.events import BacktestRequested, StrategySpec, make_event
from shared.contracts.models import BacktestConfiguration
from shared.platform.db.urls import asyncpg_dsn
from tests.integration.clients import Api, import_daily_csv, nasdaq_instrument
from tests.integration.conftest import publish
from tests.integration.market import write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
PROBLEM = "application/problem+json"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Researcher(Api):
    """A gateway user who also runs the CLI (`cli_env`), with shortcuts for strategies and backtests."""

    def __init__(self, stack: StackFile, name: str) -> None:
        super().__init__(stack, name)
        self.cli_env = {"BTS_API_URL": stack.api_url, "BTS_API_KEY": self.key}

    def finished(self, backtest_id: str, within: float = 180) -> dict[str, Any]:
        return self.wait(f"/backtests/{backtest_id}", {"COMPLETED", "FAILED"}, within)

    def strategy(self, strategy_type: str, parameters: dict[str, Any]) -> str:
        created = self.http.post(
            "/strategies",
            json={
                "name": f"{strategy_type} {uuid.uuid4().hex[:6]}",
                "strategy_type": strategy_type,
                "parameters": parameters,
            },
        )
        assert created.status_code == 201, created.text
        strategy_id: str = created.json()["id"]
        assert self.http.post(f"/strategies/{strategy_id}/activate").status_code == 200
        return strategy_id

    def backtest(self, strategy_id: str, instrument: str) -> str:
        accepted = self.http.post(
            "/backtests",
            json={
                "strategy_id": strategy_id,
                "instrument_ids": [instrument],
                "start_date": "2020-01-01",
                "end_date": "2021-12-31",
                "position_size_pct": "5",
            },
        )
        assert accepted.status_code == 202, accepted.text
        backtest_id: str = accepted.json()["id"]
        return backtest_id


@pytest.fixture(scope="module")
def alice(running_stack: StackFile, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Researcher]:
    """A user, with RSA and RSB registered and two years of daily bars loaded through the gateway (the benchmark,
    SPY, is the shared stack's: see conftest.py)."""
    api = Researcher(running_stack, "alice")
    folder = tmp_path_factory.mktemp("research-csv")
    for seed, symbol in enumerate(("RSA", "RSB")):
        assert api.http.post("/instruments", json=nasdaq_instrument(symbol)).status_code == 201
        path = folder / f"{symbol}.csv"
        write_daily_csv(path, seed + 60)
        job = import_daily_csv(api, path, f"{symbol}.NASDAQ")
        assert job["status"] == "COMPLETED", job
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def bob(running_stack: StackFile) -> Iterator[Researcher]:
    api = Researcher(running_stack, "bob")
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def two_runs(alice: Researcher) -> tuple[str, str]:
    """Two COMPLETED backtests of different strategies on RSA."""
    first = alice.backtest(alice.strategy("SMA_CROSSOVER", {"fast_period": 5, "slow_period": 20}), "RSA.NASDAQ")
    second = alice.backtest(alice.strategy("MOMENTUM", {"lookback": 10, "threshold": 0.01}), "RSA.NASDAQ")
    for backtest_id in (first, second):
        assert alice.finished(backtest_id)["status"] == "COMPLETED"
    return first, second


def bts(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    done = subprocess.run(
        [sys.executable, "-m", "bts", *args],
        env={**clean, **env, "COLUMNS": "250"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


# --- strategy types ------------------------------------------------------------------------------------
def test_the_registered_types_are_listed_with_their_json_schemas(alice: Researcher) -> None:
    listed = {t["name"]: t for t in alice.http.get("/strategy-types").json()}
    assert {"SMA_CROSSOVER", "MEAN_REVERSION", "MOMENTUM"} <= set(listed)
    sma = listed["SMA_CROSSOVER"]
    assert (sma["builtin"], sma["distribution"]) == (True, "bts")
    schema = sma["parameters_schema"]
    assert set(schema["properties"]) == {"fast_period", "slow_period", "allow_short"}
    assert set(schema["required"]) == {"fast_period", "slow_period"}
    assert schema["properties"]["fast_period"]["minimum"] == 1
    assert alice.http.get("/strategy-types/MOMENTUM").json()["parameters_schema"]["required"] == [
        "lookback",
        "threshold",
    ]
    missing = alice.http.get("/strategy-types/NOPE")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    assert httpx.get(str(alice.http.base_url).rstrip("/") + "/strategy-types").status_code == 401
    listed_by_cli = bts("strategy", "types", env=alice.cli_env)
    assert listed_by_cli.returncode == 0, listed_by_cli.stderr
    assert re.search(r"SMA_CROSSOVER\W+fast_period, slow_period, allow_short\?\W+bts 0\.1\.0", listed_by_cli.stdout)
    as_json = json.loads(bts("strategy", "types", "--json", env=alice.cli_env).stdout)
    assert {t["name"] for t in as_json} == set(listed)


@pytest.mark.parametrize(
    ("strategy_type", "parameters", "field", "message"),
    [
        (
            "SMA_CROSSOVER",
            {"fast_period": 5, "slow_period": 20, "speed": 3},
            "body.parameters.speed",
            "unknown parameter for SMA_CROSSOVER; expected: allow_short, fast_period, slow_period",
        ),
        (
            "SMA_CROSSOVER",
            {"fast_period": 0, "slow_period": 20},
            "body.parameters.fast_period",
            "Input should be greater than or equal to 1",
        ),
        (
            "MEAN_REVERSION",
            {"lookback": 20, "entry_z": -1, "exit_z": 0},
            "body.parameters.entry_z",
            "Input should be greater than 0",
        ),
        (
            "SMA_CROSS",
            {"fast_period": 5},
            "body.strategy_type",
            "strategy type 'SMA_CROSS' is not registered; registered: ",
        ),
    ],
)
def test_creation_is_checked_against_the_registered_schema(
    alice: Researcher, strategy_type: str, parameters: dict[str, Any], field: str, message: str
) -> None:
    response = alice.http.post(
        "/strategies", json={"name": "bad", "strategy_type": strategy_type, "parameters": parameters}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert errors[field].startswith(message), errors


def test_the_engine_fails_a_type_it_does_not_have_with_the_reason(running_stack: StackFile, alice: Researcher) -> None:
    backtest_id = uuid.uuid4()
    request = BacktestRequested(
        backtest_id=backtest_id,
        user_id=alice.user_id,
        configuration=BacktestConfiguration(
            strategy_id=uuid.uuid4(), instrument_ids=["RSA.NASDAQ"], start_date="2020-01-01", end_date="2021-12-31"
        ),  # type: ignore[arg-type]
        strategy=StrategySpec(strategy_type="NOT_INSTALLED", parameters={"window": 3}),
    )
    event = make_event(topics.BACKTEST_REQUESTED, request, source="test/outside", subject=str(backtest_id))
    asyncio.run(publish(running_stack.kafka_bootstrap, [(event, str(alice.user_id))]))
    final = alice.finished(str(backtest_id))
    assert final["status"] == "FAILED"
    assert "strategy type 'NOT_INSTALLED' is not registered; registered: " in final["error_message"]
    summary = next(b for b in alice.http.get("/backtests").json()["items"] if b["id"] == str(backtest_id))
    assert summary["strategy_type"] == "NOT_INSTALLED"


@pytest.mark.skipif(
    importlib.util.find_spec("bts_donchian") is None,
    reason="the example plugin is not installed (make test installs it)",
)
def test_the_example_plugin_is_listed_and_a_backtest_with_it_completes(alice: Researcher) -> None:
    plugin = alice.http.get("/strategy-types/DONCHIAN_BREAKOUT").json()
    assert (plugin["distribution"], plugin["builtin"]) == ("bts-donchian-breakout", False)
    assert set(plugin["parameters_schema"]["required"]) == {"entry_lookback", "exit_lookback"}
    refused = alice.http.post(
        "/strategies",
        json={
            "name": "donchian bad",
            "strategy_type": "DONCHIAN_BREAKOUT",
            "parameters": {"entry_lookback": 10, "exit_lookback": 20},
        },
    )
    assert refused.status_code == 422
    assert "exit_lookback must be <= entry_lookback" in refused.text
    backtest_id = alice.backtest(
        alice.strategy("DONCHIAN_BREAKOUT", {"entry_lookback": 20, "exit_lookback": 10}), "RSA.NASDAQ"
    )
    final = alice.finished(backtest_id)
    assert final["status"] == "COMPLETED", final
    assert alice.http.get(f"/backtests/{backtest_id}/result").json()["trades_count"] > 0
    manifest = alice.http.get(f"/backtests/{backtest_id}/manifest").json()
    assert (manifest["strategy_distribution"], manifest["strategy_version"]) == ("bts-donchian-breakout", "0.1.0")


# --- manifests and reproduction ------------------------------------------------------------------------
def test_every_result_serves_its_manifest_to_its_owner_only(
    alice: Researcher, bob: Researcher, two_runs: tuple[str, str]
) -> None:
    first, _ = two_runs
    manifest = alice.http.get(f"/backtests/{first}/manifest").json()
    assert set(manifest["data"]) == {"RSA.NASDAQ"}
    assert manifest["data"]["RSA.NASDAQ"]["bars"] == 505
    for digest in (
        manifest["data"]["RSA.NASDAQ"]["sha256"],
        manifest["configuration_sha256"],
        manifest["parameters_sha256"],
        manifest["trades_sha256"],
        manifest["benchmark"]["sha256"],
    ):
        assert SHA256.match(digest)
    assert manifest["parameters"] == {"fast_period": 5, "slow_period": 20, "allow_short": False}
    assert manifest["nautilus_trader_version"] == "1.221.0"
    assert manifest["code_version"].startswith("0.1.0+")
    result = alice.http.get(f"/backtests/{first}/result").json()
    assert manifest["trades_count"] == result["trades_count"] + result["open_trades"]  # every trade record
    shown = bts("backtest", "manifest", first, env=alice.cli_env)
    assert shown.returncode == 0, shown.stderr
    assert manifest["trades_sha256"] in shown.stdout
    assert json.loads(bts("backtest", "manifest", first, "--json", env=alice.cli_env).stdout) == manifest
    assert bob.http.get(f"/backtests/{first}/manifest").status_code == 404
    assert bob.http.post(f"/backtests/{first}/reproduce").status_code == 404


def test_reproduce_reruns_the_request_and_says_the_trades_match(alice: Researcher, two_runs: tuple[str, str]) -> None:
    first, _ = two_runs
    done = bts("backtest", "reproduce", first, "--json", env=alice.cli_env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["trades_match"] is True
    assert all(check["same"] for check in report["checks"]), report["checks"]
    rerun = report["rerun"]
    assert rerun != first
    assert alice.http.get(f"/backtests/{rerun}").json()["status"] == "COMPLETED"
    assert rerun in {b["id"] for b in alice.http.get("/backtests").json()["items"]}
    people = bts("backtest", "reproduce", first, env=alice.cli_env)
    assert people.returncode == 0, people.stderr
    assert "reproduced: the rerun made the same" in people.stdout


def test_reproduce_exits_non_zero_when_the_trades_differ_and_says_what_changed(
    running_stack: StackFile, alice: Researcher
) -> None:
    original = alice.backtest(alice.strategy("SMA_CROSSOVER", {"fast_period": 5, "slow_period": 20}), "RSB.NASDAQ")
    assert alice.finished(original)["status"] == "COMPLETED"

    async def reprice() -> None:  # RSB's bars change after the run: every fill price moves by a cent
        conn = await asyncpg.connect(asyncpg_dsn(running_stack.database_url))
        try:
            await conn.execute(
                "UPDATE ingest.market_data SET close = close + 0.01, high = high + 0.01 "
                "WHERE instrument_id = 'RSB.NASDAQ'"
            )
        finally:
            await conn.close()

    asyncio.run(reprice())
    done = bts("backtest", "reproduce", original, env=alice.cli_env)
    assert done.returncode == 1
    assert "not reproduced: the trades differ; what differs: bars RSB.NASDAQ" in done.stderr
    assert re.search(r"bars RSB\.NASDAQ .* different", done.stdout)
    assert re.search(r"configuration .* same", done.stdout)


def test_reproduce_refuses_what_has_not_completed(alice: Researcher) -> None:
    done = bts("backtest", "reproduce", str(uuid.uuid4()), env=alice.cli_env)
    assert done.returncode == 1
    assert "does not exist" in done.stderr


# --- comparisons -----------------------------------------------------------------------------------------
def test_compare_puts_metrics_side_by_side(alice: Researcher, two_runs: tuple[str, str]) -> None:
    first, second = two_runs
    response = alice.http.get("/backtests/compare", params={"ids": f"{first},{second}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [b["id"] for b in body["backtests"]] == [first, second]
    assert [b["strategy_type"] for b in body["backtests"]] == ["SMA_CROSSOVER", "MOMENTUM"]
    assert all(b["equity"] is None for b in body["backtests"])
    rows = {(r["group"], r["metric"]): r for r in body["metrics"]}
    assert len(rows) == 15
    results = [alice.http.get(f"/backtests/{i}/result").json() for i in (first, second)]
    assert rows[("risk", "sharpe_ratio")]["values"] == [r["metrics"]["risk"]["sharpe_ratio"] for r in results]
    totals = [r["metrics"]["returns"]["total_return"] for r in results]
    assert rows[("returns", "total_return")]["best"] == (first if totals[0] > totals[1] else second)

    with_curves = alice.http.get("/backtests/compare", params={"ids": f"{first},{second}", "curves": "true"}).json()
    curve = with_curves["backtests"][0]["equity"]
    assert len(curve["dates"]) == len(curve["values"]) == 505
    portfolio = alice.http.get(f"/backtests/{first}/portfolio", params={"daily": "true"}).json()
    assert curve["values"][-1] == pytest.approx(float(portfolio[-1]["total_value"]))


def test_compare_refuses_too_few_too_many_and_other_users_ids(
    alice: Researcher, bob: Researcher, two_runs: tuple[str, str]
) -> None:
    first, second = two_runs
    theirs = bob.backtest(bob.strategy("MOMENTUM", {"lookback": 10, "threshold": 0.01}), "RSA.NASDAQ")
    for ids, status, needle in [
        (first, 422, "compare 2 to 10 backtests, got 1"),
        (",".join([first, second, *(str(uuid.uuid4()) for _ in range(9))]), 422, "compare 2 to 10 backtests, got 11"),
        (f"{first},not-an-id", 422, "'not-an-id' is not a backtest id"),
        (f"{first},{theirs}", 404, f"backtest {theirs} does not exist"),
        (f"{first},{uuid.uuid4()}", 404, "does not exist"),
    ]:
        response = alice.http.get("/backtests/compare", params={"ids": ids})
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM
        assert needle in response.json()["detail"]
        if status == 422:
            assert response.json()["errors"][0]["field"] == "query.ids"
    assert alice.http.get("/backtests/compare").status_code == 422  # ids is required


def test_bts_backtest_compare_prints_a_table_and_writes_the_html_report(
    alice: Researcher, two_runs: tuple[str, str], tmp_path: Path
) -> None:
    first, second = two_runs
    done = bts("backtest", "compare", first, second, env=alice.cli_env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Total return" in done.stdout
    assert "Sharpe ratio" in done.stdout
    report = tmp_path / f"comparison-{first[:8]}-{second[:8]}.html"
    assert f"report: {report}" in done.stdout
    html = report.read_text()
    assert "<script src" not in html
    assert html.count("Plotly.newPlot") == 2
    assert "SMA_CROSSOVER" in html
    assert "MOMENTUM" in html
    refused = bts("backtest", "compare", first, env=alice.cli_env, cwd=tmp_path)
    assert refused.returncode == 1
    assert "compare 2 to 10 backtests, got 1" in refused.stderr
