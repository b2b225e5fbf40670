"""Hostile input at the gateway of a real `bts up` (uploads deleted at once, a small upload quota): every
input that used to give a 500 (or a 200 cut off mid-body) is a fast 422 problem naming its field, an
enormous sweep grid is refused in well under a second while the gateway keeps answering, an upload past
the quota is a 413 naming the quota, and an upload is deleted when its job ends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bts.stackfile import StackFile
from tests.integration.clients import PROBLEM, Api
from tests.integration.market import write_daily_csv
from tests.integration.stack import started_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

QUOTA = 60_000  # bytes: one two-year daily CSV (~25 kB) fits, two at once would not, a 70 kB file never does
FAST_S = 2.0  # a refused input answers at once; generous for a machine shared with other test runs
GRID_S = 1.0  # the 100,000-value grid: "well under a second" (it took 10-12 s when every value was checked)
HEALTH_S = 0.5  # /health while that grid is refused (it took 12 s when the check ran on the event loop)
SYMBOL = "HIN.NASDAQ"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inputs-state")


@pytest.fixture(scope="module")
def stack(state: Path) -> Iterator[StackFile]:
    env = {"BTS_UPLOAD_GRACE_S": "0", "BTS_UPLOAD_QUOTA_BYTES": str(QUOTA), "BTS_UPLOAD_SWEEP_EVERY_S": "2"}
    with started_stack(state, env) as started:
        yield started


@pytest.fixture(scope="module")
def user(stack: StackFile) -> Iterator[Api]:
    api = Api(stack, "inputs")
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def instrument(user: Api) -> str:
    body = {
        "id": SYMBOL,
        "symbol": "HIN",
        "exchange": "NASDAQ",
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": 1,
        "margin_requirement": "25",
    }
    response = user.http.post("/instruments", json=body)
    assert response.status_code in (201, 409), response.text
    return SYMBOL


def _raw_json(api: Api, path: str, body: str) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    response = api.http.post(path, content=body.encode(), headers={"Content-Type": "application/json"})
    return response, time.monotonic() - began


def _refused(response: httpx.Response, elapsed: float, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert field in [e["field"] for e in response.json()["errors"]], response.text
    assert elapsed < FAST_S, f"{elapsed:.2f} s"


@pytest.mark.parametrize("threshold", ["1e999", "Infinity", "-Infinity", "NaN"])
def test_a_non_finite_json_number_is_a_422_naming_the_field(user: Api, threshold: str) -> None:
    body = f'{{"name": "m", "strategy_type": "MOMENTUM", "parameters": {{"lookback": 20, "threshold": {threshold}}}}}'
    _refused(*_raw_json(user, "/strategies", body), "body.parameters.threshold")


@pytest.mark.parametrize(("field", "value"), [("lot_size", 10**30), ("tick_size", "1E+300")])
def test_an_instrument_spec_out_of_bounds_is_a_422(user: Api, field: str, value: Any) -> None:
    body = {
        "id": "HUGE.NASDAQ",
        "symbol": "HUGE",
        "exchange": "NASDAQ",
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": 1,
        "margin_requirement": "25",
        field: value,
    }
    _refused(*_raw_json(user, "/instruments", json.dumps(body)), f"body.{field}")


def _sweep(instrument: str, **changes: Any) -> dict[str, Any]:
    period = {"instrument_ids": [instrument], "start_date": "2020-01-02", "end_date": "2021-12-31"}
    return {
        "strategy_type": "SMA_CROSSOVER",
        "grid": {"fast_period": [5, 10], "slow_period": [50]},
        **period,
        **changes,
    }


def test_a_sweep_top_k_out_of_bounds_is_a_422(user: Api, instrument: str) -> None:
    body = json.dumps(_sweep(instrument, prescreen={"top_k": 10**18}))
    _refused(*_raw_json(user, "/sweeps", body), "body.prescreen.top_k")


def test_a_market_data_read_beyond_representable_dates_is_a_422_before_streaming(user: Api, instrument: str) -> None:
    params = {"timeframe": "BAR_DAILY", "start": "2020-01-01T00:00:00Z", "end": "9999-12-31T23:59:59-01:00"}
    began = time.monotonic()
    response = user.http.get(f"/market-data/{instrument}", params=params)
    _refused(response, time.monotonic() - began, "query.end")


def test_a_100000_value_grid_is_refused_at_once_and_the_gateway_keeps_answering(
    user: Api, instrument: str, stack: StackFile
) -> None:
    body = json.dumps(_sweep(instrument, grid={"fast_period": list(range(1, 100_001)), "slow_period": [200]}))
    answer: dict[str, Any] = {}

    def submit() -> None:
        answer["response"], answer["elapsed"] = _raw_json(user, "/sweeps", body)

    health: list[float] = []
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        worker = threading.Thread(target=submit)
        worker.start()
        while worker.is_alive() or len(health) < 3:
            began = time.monotonic()
            assert http.get("/health").status_code == 200
            health.append(time.monotonic() - began)
            time.sleep(0.02)
        worker.join()
    response = answer["response"]
    assert response.status_code == 422, response.text
    assert "BTS_SWEEP_MAX_RUNS" in response.text
    print(f"100,000-value grid: 422 in {answer['elapsed']:.3f} s; /health at most {max(health):.3f} s")
    assert answer["elapsed"] < GRID_S
    assert max(health) < HEALTH_S


def _upload(api: Api, path: Path, instrument: str) -> httpx.Response:
    with path.open("rb") as file:
        form = {"instrument_id": instrument, "timeframe": "BAR_DAILY"}
        return api.http.post("/market-data/import", files={"file": (path.name, file, "text/csv")}, data=form)


def _files(state: Path) -> list[str]:
    folder = state / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_an_upload_over_the_quota_is_a_413_naming_the_quota(user: Api, instrument: str, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "2020-01-02,1,2,0.5,1.5,100\n" * 3000)  # ~80 kB
    response = _upload(user, path, instrument)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "BTS_UPLOAD_QUOTA_BYTES" in response.json()["detail"]


def test_an_upload_is_deleted_when_its_job_ends_and_frees_the_quota(
    user: Api, instrument: str, state: Path, tmp_path: Path
) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    write_daily_csv(good, 7)
    bad.write_text("timestamp,open,high,low,close,volume\n2020-01-02,1,2,0.5,1.5,-5\n" + " " * 30_000)
    for path, ending in ((good, "COMPLETED"), (bad, "FAILED"), (good, "COMPLETED")):  # each alone fits the quota
        accepted = _upload(user, path, instrument)
        assert accepted.status_code == 202, accepted.text  # the third: the first two files no longer count
        job_id = accepted.json()["job_id"]
        job = user.wait(f"/market-data/import/{job_id}", {"COMPLETED", "FAILED"})
        assert job["status"] == ending, job
        deadline = time.monotonic() + 30
        while f"{job_id}.csv" in _files(state):
            assert time.monotonic() < deadline, f"the upload of {ending} job {job_id} is still on disk"
            time.sleep(0.2)


def test_a_valid_read_streams_its_whole_body_and_an_empty_range_is_an_empty_array(user: Api, instrument: str) -> None:
    """After the uploads above: two years of daily bars (the first read ahead, before the 200)."""
    params = {"timeframe": "BAR_DAILY", "start": "2020-01-01T00:00:00Z", "end": "2022-01-01T00:00:00Z"}
    bars = user.http.get(f"/market-data/{instrument}", params=params)
    assert bars.status_code == 200, bars.text
    assert len(bars.json()) == 505
    text = user.http.get(f"/market-data/{instrument}", params={**params, "format": "csv"}).text
    assert len(text.splitlines()) == 506
    empty = {**params, "start": "1990-01-01T00:00:00Z", "end": "1990-02-01T00:00:00Z"}
    assert user.http.get(f"/market-data/{instrument}", params=empty).json() == []
