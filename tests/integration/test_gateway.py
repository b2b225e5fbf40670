"""The REST gateway on a real `bts up` stack: auth, the strategy lifecycle, instruments, CSV uploads,
backtest submission with its checks, live status (also for requests published straight to Kafka),
results, trades, portfolio, reports and the AsyncAPI contract."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bts.stackfile import StackFile
from shared.contracts import topics
from shared.contracts.events import BacktestRequested, StrategySpec, make_event
from shared.contracts.models import BacktestConfiguration, StrategyType
from tests.integration.clients import PROBLEM, Api, import_daily_csv, server_sent_events
from tests.integration.conftest import publish
from tests.integration.market import write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


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


def _instrument(symbol: str, exchange: str = "NASDAQ") -> dict[str, Any]:
    return {
        "id": f"{symbol}.{exchange}",
        "symbol": symbol,
        "exchange": exchange,
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": 1,
        "margin_requirement": "25",
    }


@pytest.fixture(scope="module")
def loaded(alice: Api, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """GWA registered and two years of daily bars uploaded through the gateway (the benchmark, SPY, is the
    shared stack's: see conftest.py)."""
    folder = tmp_path_factory.mktemp("gateway-csv")
    response = alice.http.post("/instruments", json=_instrument("GWA"))
    assert response.status_code in (201, 409), response.text
    path = folder / "GWA.csv"
    write_daily_csv(path, 40)
    job = import_daily_csv(alice, path, "GWA.NASDAQ")
    assert job["status"] == "COMPLETED", job
    assert job["rows_loaded"] == job["rows_inserted"] == 505
    assert job["rows_rejected"] == 0
    return ["GWA.NASDAQ"]


def _active_strategy(
    api: Api, name: str, strategy_type: str = "SMA_CROSSOVER", parameters: dict[str, Any] | None = None
) -> str:
    body = {
        "name": name,
        "strategy_type": strategy_type,
        "parameters": parameters or {"fast_period": 5, "slow_period": 20},
    }
    created = api.http.post("/strategies", json=body)
    assert created.status_code == 201, created.text
    strategy_id: str = created.json()["id"]
    assert api.http.post(f"/strategies/{strategy_id}/activate").status_code == 200
    return strategy_id


def test_every_route_but_operations_needs_a_valid_key(running_stack: StackFile) -> None:
    with httpx.Client(base_url=running_stack.api_url) as http:
        assert http.get("/health").status_code == 200
        for headers in ({}, {"Authorization": "Bearer bts_nope_nope"}, {"Authorization": "Basic abc"}):
            response = http.get("/api/v1/strategies", headers=headers)
            assert response.status_code == 401
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["status"] == 401


def test_strategy_lifecycle_and_ownership(alice: Api, bob: Api) -> None:
    body = {
        "name": "lifecycle",
        "strategy_type": "MEAN_REVERSION",
        "parameters": {"lookback": 20, "entry_z": 2.0, "exit_z": 0.5},
    }
    created = alice.http.post("/strategies", json=body)
    assert created.status_code == 201
    strategy = created.json()
    assert (strategy["status"], strategy["is_active"]) == ("DRAFT", False)
    sid = strategy["id"]

    duplicate = alice.http.post("/strategies", json=body)
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == PROBLEM
    assert bob.http.post("/strategies", json=body).status_code == 201  # unique per user, not globally

    edited = alice.http.patch(
        f"/strategies/{sid}", json={"parameters": {"lookback": 30, "entry_z": 2.5, "exit_z": 0.5}}
    )
    assert edited.status_code == 200
    assert edited.json()["parameters"]["lookback"] == 30
    assert alice.http.post(f"/strategies/{sid}/activate").json()["status"] == "ACTIVE"
    assert alice.http.patch(f"/strategies/{sid}", json={"name": "renamed"}).status_code == 409  # draft only
    assert alice.http.post(f"/strategies/{sid}/archive").json()["status"] == "ARCHIVED"
    for attempt in (alice.http.post(f"/strategies/{sid}/activate"), alice.http.post(f"/strategies/{sid}/archive")):
        assert attempt.status_code == 409  # archived is read-only

    assert bob.http.get(f"/strategies/{sid}").status_code == 404  # another user's id
    assert bob.http.post(f"/strategies/{sid}/archive").status_code == 404
    assert sid not in {s["id"] for s in bob.http.get("/strategies").json()["items"]}


def test_bad_strategy_parameters_name_the_field(alice: Api) -> None:
    response = alice.http.post(
        "/strategies",
        json={
            "name": "bad",
            "strategy_type": "SMA_CROSSOVER",
            "parameters": {"fast_period": 5, "slow_period": 20, "x": 1},
        },
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    fields = {e["field"] for e in response.json()["errors"]}
    assert "body.parameters.x" in fields
    wrong_type = alice.http.post("/strategies", json={"name": "bad", "strategy_type": "NOPE", "parameters": {"a": 1}})
    assert wrong_type.status_code == 422
    assert any(e["field"] == "body.strategy_type" for e in wrong_type.json()["errors"])


def test_a_nul_in_a_query_or_path_parameter_is_a_422_naming_it(alice: Api) -> None:
    """PostgreSQL text cannot hold a NUL: the filters refuse it instead of failing in the database (was a 500)."""
    for path, field in [
        ("/instruments?id_prefix=A%00", "query.id_prefix"),
        ("/strategies?strategy_type=A%00", "query.strategy_type"),
        ("/backtests?instrument_id=A%00", "query.instrument_id"),
        ("/instruments/A%00B", "path.instrument_id"),
    ]:
        response = alice.http.get(path)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert [e["field"] for e in response.json()["errors"]] == [field]


def test_instruments_are_overwritten_by_their_owner_and_need_a_known_exchange(alice: Api, bob: Api) -> None:
    assert alice.http.post("/instruments", json=_instrument("REG")).status_code == 201
    assert alice.http.post("/instruments", json=_instrument("REG")).status_code == 200  # the owner overwrites
    refused = bob.http.post("/instruments", json=_instrument("REG"))  # anyone else may not
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert alice.http.get("/instruments/REG.NASDAQ").json()["symbol"] == "REG"
    unknown = alice.http.post("/instruments", json=_instrument("REG", "MOON"))
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "body.exchange"
    mismatched = alice.http.post("/instruments", json={**_instrument("REG"), "id": "OTHER.NASDAQ"})
    assert mismatched.status_code == 422
    assert alice.http.get("/instruments/NOPE.NASDAQ").status_code == 404


def test_a_reimport_counts_every_valid_row_and_says_what_changed(alice: Api, tmp_path: Path) -> None:
    """rows_loaded + rows_rejected = the file's data rows on a re-import too; the merge's counts say how."""
    assert alice.http.post("/instruments", json=_instrument("RIM")).status_code in (201, 409)
    path = tmp_path / "RIM.csv"

    def upload() -> dict[str, Any]:
        with path.open("rb") as file:
            accepted = alice.http.post(
                "/market-data/import",
                files={"file": (path.name, file, "text/csv")},
                data={"instrument_id": "RIM.NASDAQ", "timeframe": "BAR_DAILY"},
            )
        assert accepted.status_code == 202, accepted.text
        job = alice.wait(f"/market-data/import/{accepted.json()['job_id']}", {"COMPLETED", "FAILED"})
        assert job["status"] == "COMPLETED", job
        return job

    write_daily_csv(path, 7)
    first = upload()
    assert (first["rows_loaded"], first["rows_inserted"], first["rows_unchanged"]) == (505, 505, 0)
    again = upload()
    assert (again["rows_loaded"], again["rows_done"], again["rows_rejected"]) == (505, 505, 0)
    assert (again["rows_inserted"], again["rows_updated"], again["rows_unchanged"]) == (0, 0, 505)
    rows = path.read_text().splitlines()
    fields = rows[10].split(",")
    fields[5] = "123456"  # one bar's volume changed
    rows[10] = ",".join(fields)
    path.write_text("\n".join(rows) + "\n")
    changed = upload()
    assert (changed["rows_loaded"], changed["rows_updated"], changed["rows_unchanged"]) == (505, 1, 504)


def test_csv_upload_errors_are_reported_per_line(alice: Api, loaded: list[str], tmp_path: Path) -> None:
    bad = "timestamp,open,high,low,close,volume\n2021-03-01,10,11,9,10.5,100\n2021-03-02,10,9,9.5,10,100\n"
    accepted = alice.http.post(
        "/market-data/import",
        files={"file": ("bad.csv", bad.encode(), "text/csv")},
        data={"instrument_id": loaded[0], "timeframe": "BAR_DAILY"},
    )
    assert accepted.status_code == 202
    job = alice.wait(f"/market-data/import/{accepted.json()['job_id']}", {"COMPLETED", "FAILED"})
    assert job["status"] == "FAILED"
    assert job["rows_loaded"] == 0
    assert any(e["line"] == 3 and e["field"] == "high" for e in job["errors"]), job["errors"]

    empty = alice.http.post(
        "/market-data/import",
        files={"file": ("empty.csv", b"", "text/csv")},
        data={"instrument_id": loaded[0], "timeframe": "BAR_DAILY"},
    )
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "body.file"
    unknown = alice.http.post(
        "/market-data/import",
        files={"file": ("x.csv", bad.encode(), "text/csv")},
        data={"instrument_id": "NOPE.NASDAQ", "timeframe": "BAR_DAILY"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "body.instrument_id"
    traversal = alice.http.post(
        "/market-data/import",
        files={"file": ("../../etc/passwd", bad.encode(), "text/csv")},
        data={"instrument_id": loaded[0], "timeframe": "BAR_DAILY"},
    )
    assert traversal.status_code == 202  # the client's file name is never a path: stored under the job id


def test_bars_read_back_exactly_as_json_and_csv(alice: Api, loaded: list[str], tmp_path: Path) -> None:
    write_daily_csv(tmp_path / "expected.csv", 40)
    with (tmp_path / "expected.csv").open() as file:
        expected = list(csv.DictReader(file))
    params = {"timeframe": "BAR_DAILY", "start": "2020-01-01T00:00:00Z", "end": "2022-01-01T00:00:00Z"}
    bars = alice.http.get(f"/market-data/{loaded[0]}", params=params).json()
    assert len(bars) == len(expected) == 505
    assert [(b["timestamp"][:10], float(b["close"])) for b in bars] == [
        (e["timestamp"], float(e["close"])) for e in expected
    ]
    as_csv = alice.http.get(f"/market-data/{loaded[0]}", params={**params, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 505
    assert list(rows[0]) == ["timestamp", "open", "high", "low", "close", "volume"]


def test_submission_is_checked_before_it_is_published(alice: Api, loaded: list[str]) -> None:
    """Wiring only: the use case's refusal is a 422 naming every field (the checks themselves, ownership and
    data included, are tests/unit/test_gateway_use_cases.py)."""
    draft = alice.http.post(
        "/strategies",
        json={"name": "draft-only", "strategy_type": "MOMENTUM", "parameters": {"lookback": 20, "threshold": 0.02}},
    ).json()
    body = {
        "strategy_id": draft["id"],
        "instrument_ids": [loaded[0], "NOPE.NASDAQ"],
        "start_date": "2020-01-01",
        "end_date": "2021-12-31",
    }
    response = alice.http.post("/backtests", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    messages = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert "DRAFT" in messages["body.strategy_id"]
    assert "unknown instrument NOPE.NASDAQ" in messages["body.instrument_ids.1"]
    listed = alice.http.get("/backtests", params={"limit": 500}).json()["items"]
    assert all(b["strategy_id"] != draft["id"] for b in listed)  # nothing was recorded


def _sse_events(api: Api, backtest_id: str) -> list[dict[str, Any]]:
    """The `status` events of a backtest's stream, after checking that it ends with its `end` event."""
    events = server_sent_events(api, f"/backtests/{backtest_id}/events", within=120)
    assert events[-1][0] == "end", events[-3:]
    assert events[-1][1]["status"] == "COMPLETED"
    assert events[-1][1]["result"]["trades_count"] >= 0
    return [data for name, data in events if name == "status"]


def test_backtest_through_the_gateway(alice: Api, bob: Api, loaded: list[str]) -> None:
    strategy_id = _active_strategy(alice, "end-to-end")
    body = {
        "strategy_id": strategy_id,
        "instrument_ids": [loaded[0]],
        "start_date": "2020-01-01",
        "end_date": "2021-12-31",
        "initial_capital": "100000",
        "position_size_pct": "5",
        "commission_model": {"type": "PER_SHARE", "per_share": "0.005", "minimum": "1", "slippage_ticks": 1},
    }
    accepted = alice.http.post("/backtests", json=body)
    assert accepted.status_code == 202, accepted.text
    backtest_id = accepted.json()["id"]
    assert accepted.json()["status"] == "PENDING"
    assert alice.http.get(f"/backtests/{backtest_id}").json()["status"] in {"PENDING", "RUNNING", "COMPLETED"}

    events = _sse_events(alice, backtest_id)
    assert events[-1]["status"] == "COMPLETED"
    assert events[-1]["progress_pct"] == 100
    progress = [e["progress_pct"] for e in events]
    assert progress == sorted(progress)

    result = alice.http.get(f"/backtests/{backtest_id}/result").json()
    assert result["status"] == "COMPLETED"
    status = alice.http.get(f"/backtests/{backtest_id}").json()
    for path, first in (("", status), ("/result", result)):  # read again: served from memory, the same answer
        again = alice.http.get(f"/backtests/{backtest_id}{path}")
        assert again.status_code == 200
        assert again.headers["content-type"] == "application/json"
        assert again.json() == first
        assert bob.http.get(f"/backtests/{backtest_id}{path}").status_code == 404  # still only for its owner
        forged = alice.http.get(f"/backtests/{backtest_id}{path}", headers={"Authorization": "Bearer bts_forged"})
        assert forged.status_code == 401
    assert set(result["metrics"]) >= {"returns", "risk", "trading"}
    trades = alice.http.get(f"/backtests/{backtest_id}/trades").json()
    assert len(trades) == result["trades_count"] + result["open_trades"] > 0  # closed round trips + still open
    trades_csv = list(
        csv.DictReader(io.StringIO(alice.http.get(f"/backtests/{backtest_id}/trades", params={"format": "csv"}).text))
    )
    assert [r["entry_time"][:19] for r in trades_csv] == [t["entry_time"][:19] for t in trades]
    assert list(trades_csv[0]) == [
        "instrument_id",
        "side",
        "entry_time",
        "entry_price",
        "exit_time",
        "exit_price",
        "quantity",
        "commission",
        "slippage",
        "pnl",
        "pnl_pct",
    ]
    daily = alice.http.get(f"/backtests/{backtest_id}/portfolio", params={"daily": "true"}).json()
    every = alice.http.get(f"/backtests/{backtest_id}/portfolio").json()
    assert 400 < len(daily) < len(every)
    assert alice.http.get(f"/backtests/{backtest_id}/portfolio", params={"format": "csv"}).text.startswith(
        "timestamp,cash_balance,total_value,margin_used,buying_power,positions"
    )

    deadline = time.monotonic() + 60
    while len(reports := alice.http.get(f"/backtests/{backtest_id}/reports").json()) < 3:
        assert time.monotonic() < deadline, reports
        time.sleep(0.5)
    html = next(r for r in reports if r["report_type"] == "HTML")
    download = alice.http.get(html["download_url"])
    assert download.status_code == 200
    assert "<html" in download.text.lower()

    listed = alice.http.get("/backtests").json()["items"]
    assert backtest_id in {b["id"] for b in listed}
    for path in ("", "/result", "/trades", "/portfolio", "/reports", "/events"):
        assert bob.http.get(f"/backtests/{backtest_id}{path}").status_code == 404
    assert bob.http.get(html["download_url"]).status_code == 404


def test_a_request_published_straight_to_kafka_shows_in_the_read_model(
    running_stack: StackFile, alice: Api, loaded: list[str]
) -> None:
    backtest_id = uuid.uuid4()
    request = BacktestRequested(
        backtest_id=backtest_id,
        user_id=alice.user_id,
        configuration=BacktestConfiguration(
            strategy_id=uuid.uuid4(), instrument_ids=[loaded[0]], start_date="2020-01-01", end_date="2021-12-31"
        ),  # type: ignore[arg-type]
        strategy=StrategySpec(strategy_type=StrategyType.MOMENTUM, parameters={"lookback": 10, "threshold": 0.01}),
    )
    event = make_event(topics.BACKTEST_REQUESTED, request, source="test/outside", subject=str(backtest_id))
    asyncio.run(publish(running_stack.kafka_bootstrap, [(event, str(alice.user_id))]))
    final = alice.wait(f"/backtests/{backtest_id}", {"COMPLETED", "FAILED"})
    assert final["status"] in {"COMPLETED", "FAILED"}
    # The read model is eventually consistent: the request and the engine's events come on different topics,
    # so the gateway may take in the run's end before the request (a fresh CI run saw it once).
    deadline = time.monotonic() + 30
    while (summary := _summary(alice, backtest_id))["strategy_type"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert summary["strategy_type"] == "MOMENTUM"
    assert summary["instrument_ids"] == [loaded[0]]


def _summary(api: Api, backtest_id: uuid.UUID) -> dict[str, Any]:
    return next(b for b in api.http.get("/backtests").json()["items"] if b["id"] == str(backtest_id))


def test_asyncapi_documents_every_topic(running_stack: StackFile) -> None:
    document = httpx.get(running_stack.api_url + "/asyncapi.json", timeout=10)
    assert document.status_code == 200, document.text
    text = document.text
    for topic in topics.ALL_TOPICS:
        assert topic in text
    assert "BacktestRequested" in text
