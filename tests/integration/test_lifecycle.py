"""Lifecycle on a real `bts up` stack: cancel (no partial rows), delete through every service (rows and report
files), strategy delete (409 naming the backtests) and clone, ownership (404), paged lists and short ids in
the CLI (ambiguous prefixes name the candidates)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bts.stackfile import StackFile
from shared.contracts import topics
from shared.contracts.events import BacktestRequested, StrategySpec, make_event
from shared.contracts.models import BacktestConfiguration
from shared.contracts.models.backtest import CANCELLED_BY_USER
from shared.platform.db.urls import asyncpg_dsn
from tests.integration.clients import PROBLEM, Api, bts, import_daily_csv, nasdaq_instrument
from tests.integration.conftest import publish
from tests.integration.market import write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def alice(running_stack: StackFile) -> Iterator[Api]:
    api = Api(running_stack, "alice")
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def bob(running_stack: StackFile) -> Iterator[Api]:
    api = Api(running_stack, "bob")
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def loaded(alice: Api, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("lifecycle-csv")  # the benchmark (SPY) is the shared stack's
    assert alice.http.post("/instruments", json=nasdaq_instrument("LFA")).status_code in (200, 201)
    path = folder / "LFA.csv"
    write_daily_csv(path, 70)
    assert import_daily_csv(alice, path, "LFA.NASDAQ")["status"] == "COMPLETED"
    return "LFA.NASDAQ"


def _strategy(api: Api, name: str) -> str:
    body = {"name": name, "strategy_type": "SMA_CROSSOVER", "parameters": {"fast_period": 5, "slow_period": 20}}
    created = api.http.post("/strategies", json=body)
    assert created.status_code == 201, created.text
    assert api.http.post(f"/strategies/{created.json()['id']}/activate").status_code == 200
    return str(created.json()["id"])


def _submit(api: Api, strategy_id: str, instrument: str) -> str:
    body = {
        "strategy_id": strategy_id,
        "instrument_ids": [instrument],
        "start_date": "2020-01-02",
        "end_date": "2021-12-31",
    }
    accepted = api.http.post("/backtests", json=body)
    assert accepted.status_code == 202, accepted.text
    return str(accepted.json()["id"])


def _query(stack: StackFile, sql: str, *args: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def _eventually(check: Callable[[], bool], what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_cancel_delete_and_ownership(running_stack: StackFile, alice: Api, bob: Api, loaded: str) -> None:
    strategy_id = _strategy(alice, "lifecycle-sma")
    # One user's runs go one at a time, in order: `second` waits behind five runs (about 2 s of work), so the
    # cancel reaches the engine before the run would start. (The engine can take the next queued run as soon as
    # one ends: behind one short run alone, the cancel could come too late and the run complete.)
    ahead = _strategy(alice, "lifecycle-ahead")
    for _ in range(4):
        _submit(alice, ahead, loaded)
    first = _submit(alice, strategy_id, loaded)
    second = _submit(alice, strategy_id, loaded)
    assert bob.http.post(f"/backtests/{second}/cancel").status_code == 404  # not his: as if it did not exist
    cancel = alice.http.post(f"/backtests/{second}/cancel")
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["cancelling"] == [second]

    stopped = alice.wait(f"/backtests/{second}", {"COMPLETED", "FAILED"})
    assert (stopped["status"], stopped["error_message"]) == ("FAILED", CANCELLED_BY_USER)
    trades = "SELECT count(*) FROM engine.trades WHERE backtest_result_id = $1"
    snapshots = "SELECT count(*) FROM engine.portfolio_snapshots WHERE backtest_result_id = $1"
    assert _query(running_stack, trades, uuid.UUID(second)) == 0
    assert _query(running_stack, snapshots, uuid.UUID(second)) == 0
    again = alice.http.post(f"/backtests/{second}/cancel")
    assert again.status_code == 409
    assert "already" in again.json()["detail"]

    done = alice.wait(f"/backtests/{first}", {"COMPLETED", "FAILED"})
    assert done["status"] == "COMPLETED", done
    _eventually(lambda: len(alice.http.get(f"/backtests/{first}/reports").json()) >= 3, "reports of the first run")
    files = [
        Path(
            str(
                _query(
                    running_stack,
                    "SELECT file_path FROM reporting.performance_reports WHERE id = $1",
                    uuid.UUID(r["id"]),
                )
            )
        )
        for r in alice.http.get(f"/backtests/{first}/reports").json()
    ]
    assert all(f.exists() for f in files)

    in_use = alice.http.delete(f"/strategies/{strategy_id}")
    assert in_use.status_code == 409
    assert in_use.headers["content-type"] == PROBLEM
    assert first in in_use.json()["detail"]
    assert second in in_use.json()["detail"]

    assert bob.http.delete(f"/backtests/{first}").status_code == 404
    assert alice.http.delete(f"/backtests/{first}").status_code == 204
    assert alice.http.get(f"/backtests/{first}").status_code == 404
    assert alice.http.get(f"/backtests/{first}/result").status_code == 404
    assert alice.http.delete(f"/backtests/{first}").status_code == 404
    results = "SELECT count(*) FROM engine.backtest_results WHERE id = $1"
    reports = "SELECT count(*) FROM reporting.performance_reports WHERE backtest_result_id = $1"
    _eventually(lambda: _query(running_stack, results, uuid.UUID(first)) == 0, "the engine's result deleted")
    _eventually(lambda: _query(running_stack, reports, uuid.UUID(first)) == 0, "the reports deleted")
    assert _query(running_stack, trades, uuid.UUID(first)) == 0
    assert _query(running_stack, snapshots, uuid.UUID(first)) == 0
    _eventually(lambda: not any(f.exists() for f in files), "the report files deleted")

    still = alice.http.delete(f"/strategies/{strategy_id}")
    assert still.status_code == 409
    assert second in still.json()["detail"]
    assert first not in still.json()["detail"]
    assert alice.http.delete(f"/backtests/{second}").status_code == 204
    assert bob.http.delete(f"/strategies/{strategy_id}").status_code == 404
    assert alice.http.delete(f"/strategies/{strategy_id}").status_code == 204
    assert alice.http.get(f"/strategies/{strategy_id}").status_code == 404


def test_an_archived_strategy_is_cloned_not_reactivated(alice: Api, bob: Api, loaded: str) -> None:
    strategy_id = _strategy(alice, "to-archive")
    assert alice.http.post(f"/strategies/{strategy_id}/archive").status_code == 200
    refused = alice.http.post(
        "/backtests",
        json={
            "strategy_id": strategy_id,
            "instrument_ids": [loaded],
            "start_date": "2020-01-02",
            "end_date": "2021-12-31",
        },
    )
    assert refused.status_code == 422
    assert f"POST /strategies/{strategy_id}/clone" in refused.json()["detail"]
    assert "/activate" not in refused.json()["detail"].split("clone")[0]

    assert bob.http.post(f"/strategies/{strategy_id}/clone").status_code == 404
    clone = alice.http.post(f"/strategies/{strategy_id}/clone")
    assert clone.status_code == 201, clone.text
    copy = clone.json()
    source = alice.http.get(f"/strategies/{strategy_id}").json()
    assert (copy["name"], copy["status"]) == ("to-archive (copy)", "DRAFT")
    assert (copy["strategy_type"], copy["parameters"]) == (source["strategy_type"], source["parameters"])
    assert source["status"] == "ARCHIVED"  # the original stays as it was
    assert copy["id"] != strategy_id
    second = alice.http.post(f"/strategies/{strategy_id}/clone", json={"name": "to-archive v2"})
    assert second.json()["name"] == "to-archive v2"
    taken = alice.http.post(f"/strategies/{strategy_id}/clone", json={"name": "to-archive v2"})
    assert taken.status_code == 409
    assert alice.http.post(f"/strategies/{copy['id']}/activate").status_code == 200


def test_lists_are_paged_and_filtered(alice: Api, bob: Api) -> None:
    made = []
    for n in range(5):
        body = {"name": f"paged-{n}", "strategy_type": "MOMENTUM", "parameters": {"lookback": 10, "threshold": 0.01}}
        made.append(alice.http.post("/strategies", json=body).json()["id"])
    page = alice.http.get("/strategies", params={"strategy_type": "MOMENTUM", "limit": 2, "offset": 1}).json()
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    assert [s["id"] for s in page["items"]] == made[1:3]
    assert alice.http.get("/strategies", params={"id_prefix": made[0][:8]}).json()["items"][0]["id"] == made[0]
    assert bob.http.get("/strategies", params={"id_prefix": made[0][:8]}).json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }
    assert alice.http.get("/strategies", params={"id_prefix": "0123"}).status_code == 422  # under 8 characters
    assert alice.http.get("/backtests", params={"limit": 501}).status_code == 422
    instruments = alice.http.get("/instruments", params={"id_prefix": "LFA", "limit": 1}).json()
    assert [i["id"] for i in instruments["items"]] == ["LFA.NASDAQ"]


def test_the_cli_takes_unique_id_prefixes_and_names_the_candidates_of_an_ambiguous_one(
    running_stack: StackFile, alice: Api, loaded: str
) -> None:
    prefix = uuid.uuid4().hex[:8]
    ids = [uuid.UUID(prefix + uuid.uuid4().hex[8:]) for _ in range(2)]  # two backtests sharing 8 characters
    events = []
    for backtest_id in ids:
        request = BacktestRequested(
            backtest_id=backtest_id,
            user_id=alice.user_id,
            configuration=BacktestConfiguration(
                strategy_id=uuid.uuid4(), instrument_ids=[loaded], start_date="2020-01-02", end_date="2021-12-31"
            ),  # type: ignore[arg-type]
            strategy=StrategySpec(strategy_type="MOMENTUM", parameters={"lookback": 10, "threshold": 0.01}),
        )
        event = make_event(topics.BACKTEST_REQUESTED, request, source="test/outside", subject=str(backtest_id))
        events.append((event, str(alice.user_id)))
    asyncio.run(publish(running_stack.kafka_bootstrap, events))
    for backtest_id in ids:
        alice.wait(f"/backtests/{backtest_id}", {"COMPLETED", "FAILED"})

    env = {"BTS_API_URL": running_stack.api_url, "BTS_API_KEY": alice.key}
    ambiguous = bts("backtest", "status", prefix, env=env)
    assert ambiguous.returncode == 1
    assert str(ids[0]) in ambiguous.stderr + ambiguous.stdout
    assert str(ids[1]) in ambiguous.stderr + ambiguous.stdout
    unique = bts("backtest", "status", str(ids[0])[:13], "--json", env=env)
    assert unique.returncode == 0, unique.stderr
    assert str(ids[0]) in unique.stdout
    unknown = bts("backtest", "status", "ffffffff" if prefix != "ffffffff" else "eeeeeeee", env=env)
    assert unknown.returncode == 1
    assert "no backtest of yours" in unknown.stderr + unknown.stdout
    short = bts("backtest", "status", prefix[:6], env=env)
    assert short.returncode == 1
    assert "at least 8" in short.stderr + short.stdout

    listed = bts("backtest", "list", env=env)
    assert str(ids[0]) in listed.stdout  # full ids in the table
    deleted = bts("backtest", "delete", str(ids[1])[:12], env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert alice.http.get(f"/backtests/{ids[1]}").status_code == 404


def test_a_cancelled_sweep_drops_its_queue_and_a_deleted_one_takes_its_runs_and_report(
    running_stack: StackFile, alice: Api, bob: Api, loaded: str
) -> None:
    body = {
        "strategy_type": "SMA_CROSSOVER",
        "instrument_ids": [loaded],
        "start_date": "2020-01-02",
        "end_date": "2021-12-31",
        "grid": {"fast_period": [3, 4, 5, 6, 7, 8], "slow_period": [20, 25, 30, 35, 40]},
    }
    accepted = alice.http.post("/sweeps", json=body)
    assert accepted.status_code == 202, accepted.text
    sweep_id = accepted.json()["id"]
    assert bob.http.post(f"/sweeps/{sweep_id}/cancel").status_code == 404
    assert alice.http.delete(f"/sweeps/{sweep_id}").status_code == 409  # still running: cancel first
    cancel = alice.http.post(f"/sweeps/{sweep_id}/cancel")
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["dropped"] > 0  # 30 combinations, a few published at a time: the rest were queued

    deadline = time.monotonic() + 300
    while (sweep := alice.http.get(f"/sweeps/{sweep_id}").json())["status"] not in ("COMPLETED", "FAILED") or not (
        sweep["report_url"]
    ):
        assert time.monotonic() < deadline, sweep
        time.sleep(0.5)
    assert sweep["total"] == 30
    assert sweep["done"] < 30  # the dropped ones never ran
    children = [row["backtest_id"] for row in sweep["leaderboard"]]
    assert children

    assert bob.http.delete(f"/sweeps/{sweep_id}").status_code == 404
    assert alice.http.delete(f"/sweeps/{sweep_id}").status_code == 204
    assert alice.http.get(f"/sweeps/{sweep_id}").status_code == 404
    for backtest_id in children:
        assert alice.http.get(f"/backtests/{backtest_id}").status_code == 404
    sweep_reports = "SELECT count(*) FROM reporting.sweep_reports WHERE sweep_id = $1"
    results = "SELECT count(*) FROM engine.backtest_results WHERE id = ANY($1::uuid[])"
    _eventually(lambda: _query(running_stack, sweep_reports, uuid.UUID(sweep_id)) == 0, "the sweep's report deleted")
    ids = [uuid.UUID(b) for b in children]
    _eventually(lambda: _query(running_stack, results, ids) == 0, "the children's results deleted")


def test_an_exported_backtest_is_shown_again_by_an_import(
    running_stack: StackFile, alice: Api, bob: Api, loaded: str, tmp_path: Path
) -> None:
    strategy_id = _strategy(alice, "shared-sma")
    backtest_id = _submit(alice, strategy_id, loaded)
    assert alice.wait(f"/backtests/{backtest_id}", {"COMPLETED", "FAILED"})["status"] == "COMPLETED"
    _eventually(lambda: len(alice.http.get(f"/backtests/{backtest_id}/reports").json()) >= 4, "the reports")
    bundle = tmp_path / "shared.zip"
    exported = bts("backtest", "export", backtest_id[:12], "-o", str(bundle), env=_env(running_stack, alice))
    assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(bundle) as archive:
        index = json.loads(archive.read("bundle.json"))
        for name, facts in index["files"].items():  # checkable by anyone: each file's SHA-256
            assert hashlib.sha256(archive.read(name)).hexdigest() == facts["sha256"]
        assert {"result.json", "manifest.json", "trades.csv", "portfolio.csv"} <= set(index["files"])
        assert {n for n in index["files"] if n.startswith("reports/")} == {
            "reports/report.html",
            "reports/trades.csv",
            "reports/portfolio_daily.csv",
            "reports/result.json",
        }
        changed = {n: archive.read(n) for n in archive.namelist()}

    imported = bts("backtest", "import", str(bundle), "--json", env=_env(running_stack, bob))
    assert imported.returncode == 0, imported.stderr
    copy_id = json.loads(imported.stdout)["id"]
    assert json.loads(imported.stdout)["imported_from"] == backtest_id
    listed = bob.http.get("/backtests").json()["items"]
    assert [(b["id"], b["status"], b["imported"]) for b in listed if b["id"] == copy_id] == [
        (copy_id, "COMPLETED", True)
    ]
    original, copy = (
        alice.http.get(f"/backtests/{backtest_id}/result").json(),
        bob.http.get(f"/backtests/{copy_id}/result").json(),
    )
    assert copy["metrics"] == original["metrics"]
    assert copy["trades_count"] == original["trades_count"]
    assert (
        bob.http.get(f"/backtests/{copy_id}/trades").json() == alice.http.get(f"/backtests/{backtest_id}/trades").json()
    )
    reports = bob.http.get(f"/backtests/{copy_id}/reports").json()
    assert sorted(r["report_type"] for r in reports) == ["CSV", "CSV", "HTML", "JSON"]
    html = next(r for r in reports if r["report_type"] == "HTML")
    page = bob.http.get(html["download_url"])
    assert page.status_code == 200
    assert "<html" in page.text.lower()
    assert alice.http.get(f"/backtests/{copy_id}").status_code == 404  # bob's copy, not hers
    assert bob.http.post(f"/backtests/{copy_id}/cancel").status_code == 409  # read-only: finished

    changed["trades.csv"] = changed["trades.csv"].replace(b"LONG", b"SHORT", 1)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, content in changed.items():
            archive.writestr(name, content)
    with tampered.open("rb") as file:
        refused = bob.http.post("/backtests/import", files={"file": ("tampered.zip", file, "application/zip")})
    assert refused.status_code == 422
    assert "trades.csv" in refused.json()["detail"]

    assert bob.http.delete(f"/backtests/{copy_id}").status_code == 204
    assert bob.http.get(f"/backtests/{copy_id}").status_code == 404
    assert alice.http.get(f"/backtests/{backtest_id}/result").status_code == 200  # the original is untouched


def _env(stack: StackFile, api: Api) -> dict[str, str]:
    return {"BTS_API_URL": stack.api_url, "BTS_API_KEY": api.key}


def test_market_data_in_use_is_deleted_only_when_forced_and_the_results_version_stays(
    alice: Api, bob: Api, loaded: str
) -> None:
    strategy_id = _strategy(alice, "data-user")
    backtest_id = _submit(alice, strategy_id, loaded)
    assert alice.wait(f"/backtests/{backtest_id}", {"COMPLETED", "FAILED"})["status"] == "COMPLETED"

    assert bob.http.delete(f"/market-data/{loaded}").status_code == 403  # not his instrument
    assert alice.http.delete("/market-data/NOPE.NASDAQ").status_code == 404
    in_use = alice.http.delete(f"/market-data/{loaded}")
    assert in_use.status_code == 409
    assert backtest_id in in_use.json()["detail"]
    assert "force=true" in in_use.json()["detail"]

    forced = alice.http.delete(f"/market-data/{loaded}", params={"force": "true"})
    assert forced.status_code == 202, forced.text
    assert forced.json()["versions_kept"] is True
    assert forced.json()["results_using"] >= 1

    def gone() -> bool:
        return not alice.http.get("/market-data/coverage", params={"instrument_id": loaded}).json()

    _eventually(gone, "the bars left the current data")
    assert alice.http.get(f"/backtests/{backtest_id}/result").status_code == 200  # the result stays
