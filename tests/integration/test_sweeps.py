"""Parameter sweeps and walk-forward on a real `bts up` stack: checks up front, the fan-out over
partitions (bounded), the leaderboard against each child's own result, reports, the pre-screen, the
stitched out-of-sample curve, and the CLI."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bts.stackfile import StackFile
from services.api.users import create_user
from shared.contracts import topics
from shared.contracts.events import parse_event
from shared.platform.db.urls import asyncpg_dsn
from tests.integration.market import load_daily_symbols

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
SYMBOLS = ("SWA", "SWB")  # and the benchmark (SPY), the shared stack's
PERIOD = {"start_date": "2020-01-01", "end_date": "2021-12-31"}
BASE = {
    "strategy_type": "SMA_CROSSOVER",
    "instrument_ids": ["SWA.NASDAQ", "SWB.NASDAQ"],
    "position_size_pct": "5",
    **PERIOD,
}


class Api:
    def __init__(self, stack: StackFile) -> None:
        self.stack = stack
        self.key = asyncio.run(self._user())
        self.http = httpx.Client(
            base_url=stack.api_url + "/api/v1", headers={"Authorization": f"Bearer {self.key}"}, timeout=60
        )

    async def _user(self) -> str:
        conn = await asyncpg.connect(asyncpg_dsn(self.stack.database_url))
        try:
            return (await create_user(conn, f"sweeper-{uuid.uuid4().hex[:6]}")).api_key
        finally:
            await conn.close()

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post("/sweeps", json=body)
        assert response.status_code == 202, response.text
        accepted: dict[str, Any] = response.json()
        return accepted

    def finished(self, sweep_id: str, limit: int = 100, within: float = 300) -> dict[str, Any]:
        """The sweep once COMPLETED or FAILED and its report is written."""
        deadline = time.monotonic() + within
        while True:
            body: dict[str, Any] = self.http.get(f"/sweeps/{sweep_id}", params={"limit": limit}).json()
            if body["status"] in ("COMPLETED", "FAILED") and body["report_url"]:
                return body
            assert time.monotonic() < deadline, f"sweep still {body['status']} {body['done']}/{body['total']}"
            time.sleep(0.5)

    def errors(self, body: dict[str, Any]) -> dict[str, str]:
        response = self.http.post("/sweeps", json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        return {e["field"]: e["message"] for e in response.json()["errors"]}


@pytest.fixture(scope="module")
def api(running_stack: StackFile, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("sweep-bars")
    asyncio.run(load_daily_symbols(running_stack.database_url, folder, SYMBOLS))  # 2020-2021, daily
    client = Api(running_stack)
    yield client
    client.http.close()


async def _rows(stack: StackFile, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def test_bad_sweeps_are_refused_naming_the_problem(api: Api) -> None:
    unknown = api.errors({**BASE, "grid": {"fast_period": [5], "slow_period": [20], "speed": [1, 2]}})
    assert "unknown parameter 'speed'" in unknown["body.grid.speed"]
    outside = api.errors({**BASE, "grid": {"fast_period": [5, 0], "slow_period": [20, 1.5]}})
    assert "greater than or equal to 1" in outside["body.grid.fast_period.1"]
    assert "body.grid.slow_period.1" in outside
    huge = api.errors({**BASE, "grid": {"fast_period": list(range(1, 101)), "slow_period": list(range(2, 202))}})
    assert "20,000 combinations" in huge["body.grid"]
    assert "at most 10,000" in huge["body.grid"]
    sampled = api.errors(
        {**BASE, "ranges": {"fast_period": {"low": 2, "high": 9}}, "parameters": {"slow_period": 30}, "samples": 20_000}
    )
    assert "20,000 combinations" in sampled["body.samples"]
    windows = api.errors(
        {
            **BASE,
            "grid": {"fast_period": list(range(1, 41)), "slow_period": list(range(50, 150))},
            "walk_forward": {"in_sample_months": 6, "out_of_sample_months": 6},
        }
    )
    assert "4,000 combinations x 3 windows + 3 = 12,003 backtests" in windows["body.grid"]
    metric = api.errors({**BASE, "grid": {"fast_period": [5], "slow_period": [20]}, "objective": "happiness"})
    assert "unknown metric 'happiness'" in metric["body.objective"]
    kind = api.errors({**BASE, "strategy_type": "NOPE", "grid": {"x": [1]}})
    assert "strategy type 'NOPE' is not registered" in kind["body.strategy_type"]
    both = api.errors({**BASE, "strategy_id": str(uuid.uuid4()), "grid": {"fast_period": [5]}})
    assert any("exactly one of strategy_id and strategy_type" in m for m in both.values())
    screen = api.errors(
        {
            **BASE,
            "strategy_type": "MOMENTUM",
            "grid": {"lookback": [5, 10]},
            "parameters": {"threshold": 0.01},
            "prescreen": {"top_k": 1},
        }
    )
    assert "no vectorised pre-screen for MOMENTUM" in screen["body.prescreen"]
    short = api.errors(
        {
            **BASE,
            "grid": {"fast_period": [5], "slow_period": [20]},
            "walk_forward": {"in_sample_months": 24, "out_of_sample_months": 6},
        }
    )
    assert "no room for a walk-forward window" in short["body.walk_forward"]
    nodata = api.errors({**BASE, "grid": {"fast_period": [5], "slow_period": [20]}, "instrument_ids": ["NOPE.NASDAQ"]})
    assert "unknown instrument NOPE.NASDAQ" in nodata["body.instrument_ids.0"]
    none_valid = api.errors({**BASE, "grid": {"fast_period": [30], "slow_period": [20]}})
    assert "no valid combination: fast_period must be < slow_period" in none_valid["body.grid"]
    assert api.http.get(f"/sweeps/{uuid.uuid4()}").status_code == 404


def test_a_grid_sweep_runs_every_combination_across_partitions_and_ranks_them(api: Api) -> None:
    grid = {"fast_period": [5, 10, 30], "slow_period": [20, 40]}  # (30, 20) breaks fast < slow
    accepted = api.submit({**BASE, "grid": grid, "report_top": 2, "name": "grid test"})
    assert (accepted["combinations"], accepted["skipped"], accepted["total"]) == (5, 1, 5)
    sweep = api.finished(accepted["id"])
    assert sweep["status"] == "COMPLETED"
    assert (sweep["done"], sweep["failed"], sweep["total"], sweep["progress_pct"]) == (5, 0, 5, 100.0)
    board = sweep["leaderboard"]
    pairs = sorted((r["parameters"]["fast_period"], r["parameters"]["slow_period"]) for r in board)
    assert pairs == [(5, 20), (5, 40), (10, 20), (10, 40), (30, 40)]
    values = [r["objective"] for r in board]
    assert values == sorted(values, reverse=True)  # Sharpe: higher is better, best first
    assert [r["rank"] for r in board] == [1, 2, 3, 4, 5]
    for row in board:  # each row is its child's own stored result
        result = api.http.get(f"/backtests/{row['backtest_id']}/result").json()
        assert result["status"] == "COMPLETED"
        assert row["objective"] == pytest.approx(result["metrics"]["risk"]["sharpe_ratio"])
        assert row["total_return"] == pytest.approx(result["metrics"]["returns"]["total_return"])
        assert row["trades_count"] == result["trades_count"]
        assert api.http.get(f"/backtests/{row['backtest_id']}").json()["status"] == "COMPLETED"

    # the children went out on one key per partition, so every engine replica can take a share
    requested = asyncio.run(_requested(api.stack.kafka_bootstrap, {str(r["backtest_id"]) for r in board}))
    assert len({partition for partition, _ in requested.values()}) == 5
    assert {key.split(":")[0] for _, key in requested.values()} == {accepted["id"]}

    # the best two children got their full report, the others none; the sweep report links the two
    best, rest = [r["backtest_id"] for r in board[:2]], [r["backtest_id"] for r in board[2:]]
    for backtest_id in best:
        assert {r["report_type"] for r in api.http.get(f"/backtests/{backtest_id}/reports").json()} == {
            "HTML",
            "CSV",
            "JSON",
        }
    for backtest_id in rest:
        assert api.http.get(f"/backtests/{backtest_id}/reports").json() == []
    page = api.http.get(f"/sweeps/{accepted['id']}/report")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="chart-objective"' in page.text  # the heatmap over fast_period x slow_period
    assert "Plotly.newPlot" in page.text
    assert "<script src=" not in page.text
    for backtest_id in best:
        assert f'href="../../{backtest_id}/report.html"' in page.text
    files = asyncio.run(
        _rows(
            api.stack,
            "SELECT file_path, report_type FROM reporting.sweep_reports WHERE sweep_id = $1",
            uuid.UUID(accepted["id"]),
        )
    )
    html = Path(next(r["file_path"] for r in files if r["report_type"] == "HTML"))
    for backtest_id in best:  # the relative links resolve to the children's files
        assert (html.parent / f"../../{backtest_id}/report.html").resolve().is_file()
    csv_file = Path(next(r["file_path"] for r in files if r["report_type"] == "CSV"))
    assert len(csv_file.read_text().strip().splitlines()) == 1 + 5
    listed = api.http.get("/sweeps").json()["items"]
    assert any(s["id"] == accepted["id"] and s["done"] == 5 for s in listed)


async def _requested(bootstrap: str, ids: set[str], within: float = 60) -> dict[str, tuple[int, str]]:
    """backtest.requested of these backtests: partition and key of each."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    found: dict[str, tuple[int, str]] = {}
    try:
        tps = [TopicPartition(topics.BACKTEST_REQUESTED, p) for p in range(6)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + within
        while set(found) < ids:
            assert time.monotonic() < deadline, f"no request for {ids - set(found)}"
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    event = parse_event(topics.BACKTEST_REQUESTED, record.value or b"")
                    if event.subject in ids:
                        found[event.subject] = (tp.partition, (record.key or b"").decode())
    finally:
        await consumer.stop()
    return found


def test_a_stored_strategy_gives_the_fixed_parameters_and_failed_children_are_counted(api: Api) -> None:
    created = api.http.post(
        "/strategies",
        json={
            "name": f"sma-{uuid.uuid4().hex[:6]}",
            "strategy_type": "SMA_CROSSOVER",
            "parameters": {"fast_period": 5, "slow_period": 20, "allow_short": True},
        },
    )
    strategy_id = created.json()["id"]
    draft = api.errors(
        {
            **{k: v for k, v in BASE.items() if k != "strategy_type"},
            "strategy_id": strategy_id,
            "grid": {"slow_period": [20]},
        }
    )
    assert "only ACTIVE strategies" in draft["body.strategy_id"]
    assert api.http.post(f"/strategies/{strategy_id}/activate").status_code == 200
    body = {
        **{k: v for k, v in BASE.items() if k != "strategy_type"},
        "strategy_id": strategy_id,
        "report_top": 0,
        "instrument_ids": ["SWA.NASDAQ"],
    }
    # slow_period 505: the window fills on the last of the 505 bars, so no crossing can happen: no signal
    sweep = api.finished(api.submit({**body, "grid": {"slow_period": [20, 505]}})["id"])
    assert (sweep["status"], sweep["done"], sweep["failed"], sweep["strategy_id"]) == ("COMPLETED", 2, 1, strategy_id)
    first, last = sweep["leaderboard"]
    assert first["parameters"] == {"fast_period": 5, "slow_period": 20, "allow_short": True}  # the strategy's own
    assert first["status"] == "COMPLETED"
    assert (last["status"], last["objective"]) == ("FAILED", None)
    assert "no signal" in last["error_message"]
    nothing = api.finished(api.submit({**body, "grid": {"slow_period": [505]}})["id"])
    assert (nothing["status"], nothing["failed"]) == ("FAILED", 1)
    assert "no backtest of the sweep completed" in nothing["error_message"]


def test_a_big_sweep_keeps_at_most_two_children_per_partition_queued(api: Api) -> None:
    grid = {"fast_period": [3, 5, 8, 10, 12, 15, 18], "slow_period": [20, 30]}  # 14 combinations
    accepted = api.submit({**BASE, "instrument_ids": ["SWA.NASDAQ"], "grid": grid, "report_top": 0})
    sweep_id = uuid.UUID(accepted["id"])
    first = asyncio.run(
        _rows(
            api.stack,
            "SELECT n, kafka_key FROM api.sweep_children c JOIN api.sweeps s ON "
            "s.id = c.sweep_id WHERE c.sweep_id = $1 AND c.published_at = s.submitted_at",
            sweep_id,
        )
    )
    assert len(first) == 12  # 2 per partition x 6 partitions went out with the request
    assert sorted({r["kafka_key"] for r in first}) == sorted(
        (asyncio.run(_rows(api.stack, "SELECT kafka_keys FROM api.sweeps WHERE id = $1", sweep_id)))[0]["kafka_keys"]
    )
    sweep = api.finished(accepted["id"])
    assert (sweep["status"], sweep["done"]) == ("COMPLETED", 14)
    later = asyncio.run(
        _rows(
            api.stack,
            "SELECT kafka_key, published_at FROM api.sweep_children WHERE sweep_id = $1 ORDER BY published_at",
            sweep_id,
        )
    )
    assert len(later) == 14  # the last two were released as earlier children finished, on their keys
    keys = {r["kafka_key"] for r in first}
    assert {r["kafka_key"] for r in later[12:]} <= keys


def test_the_prescreen_runs_only_its_top_k(api: Api) -> None:
    grid = {"fast_period": [3, 5, 10], "slow_period": [20, 40]}
    accepted = api.submit(
        {**BASE, "grid": grid, "prescreen": {"top_k": 2}, "objective": "total_return", "report_top": 0}
    )
    assert (accepted["combinations"], accepted["total"]) == (6, 2)
    sweep = api.finished(accepted["id"])
    assert (sweep["status"], sweep["done"], sweep["screened_out"]) == ("COMPLETED", 2, 4)
    children = asyncio.run(
        _rows(
            api.stack,
            "SELECT state, prescreen_score FROM api.sweep_children WHERE sweep_id = $1",
            uuid.UUID(accepted["id"]),
        )
    )
    ran = sorted(r["prescreen_score"] for r in children if r["state"] == "COMPLETED")
    screened = [r["prescreen_score"] for r in children if r["state"] == "SCREENED_OUT"]
    assert len(ran) == 2
    assert len(screened) == 4
    assert min(ran) >= max(screened)  # the two best estimates ran
    assert all(r["prescreen_score"] is not None for r in sweep["leaderboard"])


def test_walk_forward_picks_in_sample_and_stitches_out_of_sample(api: Api) -> None:
    grid = {"fast_period": [5, 10], "slow_period": [20, 30]}
    accepted = api.submit(
        {**BASE, "grid": grid, "walk_forward": {"in_sample_months": 6, "out_of_sample_months": 6}, "report_top": 1}
    )
    assert [w["out_of_sample_start"] for w in accepted["windows"]] == ["2020-07-01", "2021-01-01", "2021-07-01"]
    assert accepted["total"] == 4 * 3 + 3
    sweep = api.finished(accepted["id"], limit=20)
    assert sweep["status"] == "COMPLETED"
    assert sweep["done"] == 15
    children = asyncio.run(
        _rows(api.stack, "SELECT * FROM api.sweep_children WHERE sweep_id = $1", uuid.UUID(accepted["id"]))
    )
    growth = 1.0
    for window in sweep["walk_forward"]["windows"]:
        inside = [c for c in children if c["phase"] == "IN_SAMPLE" and c["window_index"] == window["index"]]
        assert {(c["start_date"].isoformat(), c["end_date"].isoformat()) for c in inside} == {
            (window["in_sample_start"], window["in_sample_end"])
        }
        done = [c for c in inside if c["state"] == "COMPLETED"]
        best = max(done, key=lambda c: c["objective_value"] if c["objective_value"] is not None else -math.inf)
        assert window["best_parameters"] == json.loads(best["parameters"])  # the in-sample best ...
        oos = next(c for c in children if c["phase"] == "OUT_OF_SAMPLE" and c["window_index"] == window["index"])
        assert json.loads(oos["parameters"]) == window["best_parameters"]  # ... is what ran out of sample
        assert (oos["start_date"].isoformat(), oos["end_date"].isoformat()) == (
            window["out_of_sample_start"],
            window["out_of_sample_end"],
        )
        requested = asyncio.run(
            _rows(api.stack, "SELECT request FROM engine.backtest_results WHERE id = $1", oos["backtest_id"])
        )
        # its indicators warm up on the in-sample months before the window; it trades only inside it
        assert json.loads(requested[0]["request"])["warmup_start"] == window["in_sample_start"]
        if oos["state"] == "COMPLETED":
            result = api.http.get(f"/backtests/{oos['backtest_id']}/result").json()
            growth *= 1 + result["metrics"]["returns"]["total_return"]  # a failed window stays in cash
        if oos["state"] == "FAILED" and "no signal" in (oos["error_message"] or ""):
            assert window["out_of_sample_status"] == "FLAT"  # in cash, 0%: not a failure
            assert window["out_of_sample_return"] == 0.0
    assert "efficiency" in sweep["walk_forward"]
    curve = api.http.get(f"/sweeps/{accepted['id']}/walk-forward").json()
    assert curve["points"][-1]["value"] == pytest.approx(100_000 * growth, abs=0.05)
    assert curve["stitched"]["total_return"] == pytest.approx(growth - 1, abs=1e-6)
    assert sweep["walk_forward"]["stitched"]["total_return"] == pytest.approx(growth - 1, abs=1e-6)
    assert curve["points"][0]["date"] >= "2020-07-01"
    dates = [p["date"] for p in curve["points"]]
    assert dates == sorted(dates)
    assert len(set(dates)) == len(dates)
    page = api.http.get(f"/sweeps/{accepted['id']}/report").text
    assert 'id="chart-stitched"' in page
    assert 'id="chart-windows"' in page
    assert api.http.get(f"/sweeps/{accepted['id']}/walk-forward").status_code == 200
    plain = api.submit({**BASE, "grid": {"fast_period": [5], "slow_period": [20]}, "report_top": 0})
    assert api.http.get(f"/sweeps/{plain['id']}/walk-forward").status_code == 409


def bts(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    result = subprocess.run(
        [sys.executable, "-m", "bts", *args],
        env={**clean, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def test_the_cli_submits_waits_and_shows_the_result(api: Api, tmp_path: Path) -> None:
    env = {"BTS_API_URL": api.stack.api_url, "BTS_API_KEY": api.key}
    run = bts(
        "sweep",
        "submit",
        "--type",
        "SMA_CROSSOVER",
        "-g",
        "fast_period=5,10",
        "-g",
        "slow_period=30",
        "-i",
        "SWA.NASDAQ",
        "--start",
        PERIOD["start_date"],
        "--end",
        PERIOD["end_date"],
        "--position-size-pct",
        "5",
        "--objective",
        "max_drawdown",
        "--report-top",
        "1",
        "--wait",
        "--json",
        env=env,
    )
    assert run.returncode == 0, run.stderr
    sweep = json.loads(run.stdout)
    assert (sweep["status"], sweep["done"], sweep["direction"]) == ("COMPLETED", 2, "maximize")
    drawdowns = [r["max_drawdown"] for r in sweep["leaderboard"]]
    assert drawdowns == sorted(drawdowns, reverse=True)  # the smaller loss first
    shown = bts("sweep", "result", sweep["id"], "--save", str(tmp_path / "sweep.html"), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "best max_drawdown first" in shown.stdout
    assert "2/2 backtests, 0 failed" in shown.stdout
    assert (tmp_path / "sweep.html").read_text().startswith("<!DOCTYPE html>")
    status = bts("sweep", "status", sweep["id"], env=env)
    assert status.returncode == 0
    assert "COMPLETED: 2/2 done" in status.stdout
    bad = bts(
        "sweep",
        "submit",
        "--type",
        "SMA_CROSSOVER",
        "-g",
        "fast_period=5,0",
        "-g",
        "slow_period=30",
        "-i",
        "SWA.NASDAQ",
        "--start",
        PERIOD["start_date"],
        "--end",
        PERIOD["end_date"],
        env=env,
    )
    assert bad.returncode == 1
    assert "--grid (fast_period.1)" in bad.stderr  # the CLI names its flag, not the API field
    malformed = bts(
        "sweep",
        "submit",
        "--type",
        "SMA_CROSSOVER",
        "-g",
        "fast_period",
        "-i",
        "SWA.NASDAQ",
        "--start",
        PERIOD["start_date"],
        "--end",
        PERIOD["end_date"],
        env=env,
    )
    assert malformed.returncode == 1
    assert "--grid expects name=value" in malformed.stderr
    missing = bts("sweep", "wait", str(uuid.uuid4()), env=env)
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr
