"""Adjusted prices and corporate actions through the gateway and the CLI of a real `bts up` stack: the
import's price_adjustment form field (ADJUSTED scales by Adj Close; RAW says it ignored it; ADJUSTED without
the column fails with the reason), the corporate-actions route (JSON and CSV, 403 for another user, 422 naming
the row), and a backtest whose price_adjustment back-adjusts a raw 3:1 split, recorded in its manifest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bts.stackfile import StackFile
from tests.integration.clients import PROBLEM, Api, bts, nasdaq_instrument
from tests.integration.stack import started_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "adjust"
JOB_ENDS = {"COMPLETED", "FAILED"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFile]:
    with started_stack(tmp_path_factory.mktemp("adjust-state")) as running:
        yield running


@pytest.fixture(scope="module")
def alice(stack: StackFile) -> Iterator[Api]:
    api = Api(stack, "alice")
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def bob(stack: StackFile) -> Iterator[Api]:
    api = Api(stack, "bob")
    yield api
    api.http.close()


def _register(api: Api, symbol: str) -> str:
    body = nasdaq_instrument(symbol)
    assert api.http.post("/instruments", json=body).status_code in (200, 201)
    return f"{symbol}.NASDAQ"


def _import(api: Api, name: str, instrument: str, adjustment: str | None) -> dict[str, Any]:
    form = {"instrument_id": instrument, "timeframe": "BAR_DAILY"}
    if adjustment is not None:
        form["price_adjustment"] = adjustment
    with (FIXTURES / name).open("rb") as file:
        accepted = api.http.post("/market-data/import", files={"file": (name, file, "text/csv")}, data=form)
    assert accepted.status_code == 202, accepted.text
    return api.wait(f"/market-data/import/{accepted.json()['job_id']}", JOB_ENDS)


def test_the_import_form_field_adjusts_notes_or_refuses(stack: StackFile, alice: Api) -> None:
    yahoo = pd.read_csv(FIXTURES / "adj_close_dividends_2023.csv")
    adjusted_id, raw_id = _register(alice, "GADJ"), _register(alice, "GRAW")
    job = _import(alice, "adj_close_dividends_2023.csv", adjusted_id, "ADJUSTED")
    assert job["status"] == "COMPLETED", job
    assert job["price_adjustment"] == "ADJUSTED"
    assert job["notes"] == []
    bars = alice.http.get(
        f"/market-data/{adjusted_id}", params={"timeframe": "BAR_DAILY", "start": "2023-01-01", "end": "2024-01-01"}
    ).json()
    assert len(bars) == len(yahoo)
    assert [round(float(b["close"]), 4) for b in bars] == [round(v, 4) for v in yahoo["Adj Close"]]

    job = _import(alice, "adj_close_dividends_2023.csv", raw_id, None)  # RAW is the default
    assert job["status"] == "COMPLETED", job
    assert job["price_adjustment"] == "RAW"
    assert len(job["notes"]) == 1
    assert job["notes"][0].startswith("Adj Close ignored:")

    job = _import(alice, "raw_split_3_1_2022.csv", _register(alice, "GNOADJ"), "ADJUSTED")
    assert job["status"] == "FAILED"
    assert "needs an Adj Close column" in job["error_message"]

    env = {"BTS_API_URL": stack.api_url, "BTS_API_KEY": alice.key}
    cli_raw = bts(
        "ingest", "csv", str(FIXTURES / "adj_close_dividends_2023.csv"), "-i", _register(alice, "GCLI"), env=env
    )
    assert cli_raw.returncode == 0, cli_raw.stdout + cli_raw.stderr
    assert "note Adj Close ignored:" in cli_raw.stdout
    cli_adjusted = bts(
        "ingest", "csv", str(FIXTURES / "raw_split_3_1_2022.csv"), "-i", "GCLI.NASDAQ", "--adjusted", env=env
    )
    assert cli_adjusted.returncode != 0
    assert "needs an Adj Close column" in cli_adjusted.stdout + cli_adjusted.stderr

    with (FIXTURES / "raw_split_3_1_2022.csv").open("rb") as file:
        refused = alice.http.post(
            "/market-data/import",
            files={"file": ("x.csv", file, "text/csv")},
            data={"instrument_id": raw_id, "timeframe": "BAR_DAILY", "price_adjustment": "HALF"},
        )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    assert "price_adjustment" in refused.text


def test_corporate_actions_are_written_by_the_owner_and_read_by_anyone(
    stack: StackFile, alice: Api, bob: Api, tmp_path: Path
) -> None:
    instrument = _register(alice, "GACT")
    path = f"/instruments/{instrument}/corporate-actions"
    created = alice.http.post(path, json=[{"type": "SPLIT", "ex_date": "2022-08-25", "ratio": 3}])
    assert created.status_code == 201, created.text
    assert created.json() == [{"type": "SPLIT", "ex_date": "2022-08-25", "ratio": "3", "amount": None}]

    refused = bob.http.post(path, json=[{"type": "DIVIDEND", "ex_date": "2022-09-01", "amount": 1}])
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert len(bob.http.get(path).json()) == 1  # reading is for anyone; bob's write left nothing

    bad = alice.http.post(
        path, json=[{"type": "SPLIT", "ex_date": "2022-08-25", "ratio": 3}, {"type": "SPLIT", "ex_date": "2022-09-01"}]
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["body[1]"]
    assert "ratio" in bad.json()["errors"][0]["message"]
    assert alice.http.post(path, content=b"x", headers={"Content-Type": "image/png"}).status_code == 415
    assert bob.http.get("/instruments/NOPE.NASDAQ/corporate-actions").status_code == 404

    env = {"BTS_API_URL": stack.api_url, "BTS_API_KEY": alice.key}
    loaded = bts("ingest", "actions", str(FIXTURES / "dividends_2023.csv"), "--instrument", instrument, env=env)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "5 corporate action(s) on record" in loaded.stdout
    broken = tmp_path / "broken.csv"
    broken.write_text("type,ex_date,ratio,amount\nSPLIT,2020-08-31,5,\nDIVIDEND,2020-13-01,,0.2\n")
    failed = bts("ingest", "actions", str(broken), "--instrument", instrument, env=env)
    assert failed.returncode != 0
    assert "line 3.ex_date" in failed.stdout + failed.stderr
    taken = bts(
        "ingest",
        "actions",
        str(FIXTURES / "dividends_2023.csv"),
        "--instrument",
        instrument,
        env={**env, "BTS_API_KEY": bob.key},
    )
    assert taken.returncode != 0
    assert "only its owner or an admin" in taken.stdout + taken.stderr


def test_a_backtest_back_adjusts_a_raw_split_and_records_it(alice: Api) -> None:
    instrument = _register(alice, "GSPL")
    assert _import(alice, "raw_split_3_1_2022.csv", instrument, "RAW")["status"] == "COMPLETED"
    actions = f"/instruments/{instrument}/corporate-actions"
    assert alice.http.post(actions, json=[{"type": "SPLIT", "ex_date": "2022-08-25", "ratio": 3}]).status_code == 201
    created = alice.http.post(
        "/strategies",
        json={
            "name": "adjusted",
            "strategy_type": "SMA_CROSSOVER",
            "parameters": {"fast_period": 5, "slow_period": 20},
        },
    )
    strategy = created.json()["id"]
    assert alice.http.post(f"/strategies/{strategy}/activate").status_code == 200
    body = {
        "strategy_id": strategy,
        "instrument_ids": [instrument],
        "start_date": "2022-05-02",
        "end_date": "2022-11-30",
        "price_adjustment": "SPLITS_AND_DIVIDENDS",
    }
    accepted = alice.http.post("/backtests", json=body)
    assert accepted.status_code == 202, accepted.text
    done = alice.wait(f"/backtests/{accepted.json()['id']}", JOB_ENDS, within=240)
    assert done["status"] == "COMPLETED", done
    manifest = alice.http.get(f"/backtests/{accepted.json()['id']}/manifest").json()
    assert manifest["configuration"]["price_adjustment"] == "SPLITS_AND_DIVIDENDS"
    assert manifest["price_adjustment"][instrument] == {
        "bars": "RAW",
        "requested": "SPLITS_AND_DIVIDENDS",
        "applied": "SPLITS_AND_DIVIDENDS",
        "splits": 1,
        "dividends": 0,
    }
    assert alice.http.post("/backtests", json={**body, "price_adjustment": "ALL"}).status_code == 422
