"""Fault: another user tries to rewrite shared data. User B re-imports A's instrument with every price
doubled, re-registers it with another tick size (REST, then ingest.requested straight on Kafka): all are
refused (403 problem+json / ingest.failed with the reason), and A's backtest still reproduces bit for bit.
The embedded database refuses a connection without its password."""

from __future__ import annotations

import asyncio
import csv
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bts.stackfile import StackFile
from shared.contracts import topics
from shared.contracts.events import IngestRequested, make_event
from shared.contracts.models import DataSource, Timeframe
from shared.platform.db.reads import writer_refused
from shared.platform.db.urls import asyncpg_dsn
from tests.faults.invariants import settled
from tests.integration.clients import PROBLEM, Api, server_sent_events
from tests.integration.conftest import publish, wait_for_events
from tests.integration.market import write_daily_csv
from tests.integration.stack import started_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]
TARGET = "MSFT.NASDAQ"
SETTLE_WITHIN_S = 120  # generous: a shared 2-core machine


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StackFile, Path]]:
    state = tmp_path_factory.mktemp("shared-data-state")
    with started_stack(state) as running:
        yield running, state


def _instrument(instrument: str, tick_size: str = "0.01") -> dict[str, Any]:
    symbol, exchange = instrument.split(".")
    return {
        "id": instrument,
        "symbol": symbol,
        "exchange": exchange,
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": tick_size,
        "lot_size": 1,
        "margin_requirement": "25",
    }


def _import(api: Api, instrument: str, path: Path) -> Any:
    with path.open("rb") as file:
        form = {"instrument_id": instrument, "timeframe": "BAR_DAILY"}
        return api.http.post("/market-data/import", files={"file": (path.name, file, "text/csv")}, data=form)


def _doubled(source: Path, target: Path) -> None:
    rows = list(csv.reader(source.read_text().splitlines()))
    with target.open("w", newline="") as sink:
        writer = csv.writer(sink)
        writer.writerow(rows[0])
        for row in rows[1:]:
            writer.writerow([row[0], *(f"{float(v) * 2:.4f}" for v in row[1:5]), *row[5:]])


def _finished_backtest(alice: Api, strategy_id: str) -> str:
    body = {
        "strategy_id": strategy_id,
        "instrument_ids": [TARGET],
        "start_date": "2020-01-01",
        "end_date": "2020-12-31",
        "position_size_pct": 5,
    }
    accepted = alice.http.post("/backtests", json=body)
    assert accepted.status_code == 202, accepted.text
    backtest_id: str = accepted.json()["id"]
    assert alice.wait(f"/backtests/{backtest_id}", {"COMPLETED", "FAILED"}, within=240)["status"] == "COMPLETED"
    return backtest_id


def test_another_user_cannot_rewrite_shared_data_and_results_still_reproduce(
    stack: tuple[StackFile, Path], tmp_path: Path
) -> None:
    running, state = stack
    alice, bob = Api(running, "alice"), Api(running, "bob")
    good = tmp_path / "MSFT.csv"
    for seed, instrument in enumerate((TARGET, "SPY.NASDAQ")):  # SPY: the default benchmark
        assert alice.http.post("/instruments", json=_instrument(instrument)).status_code == 201
        write_daily_csv(good if instrument == TARGET else tmp_path / "SPY.csv", seed + 21)
        accepted = _import(alice, instrument, good if instrument == TARGET else tmp_path / "SPY.csv")
        assert accepted.status_code == 202, accepted.text
        job = alice.wait(f"/market-data/import/{accepted.json()['job_id']}", {"COMPLETED", "FAILED"}, within=180)
        assert job["status"] == "COMPLETED", job
    strategy = alice.http.post(
        "/strategies",
        json={"name": "shared", "strategy_type": "SMA_CROSSOVER", "parameters": {"fast_period": 5, "slow_period": 20}},
    ).json()
    assert alice.http.post(f"/strategies/{strategy['id']}/activate").status_code == 200
    original = _finished_backtest(alice, strategy["id"])
    before = alice.http.get(f"/backtests/{original}/manifest").json()

    # the fault: bob rewrites alice's instrument every way he can
    attacked = time.monotonic()
    doubled = tmp_path / "MSFT-x2.csv"
    _doubled(good, doubled)
    for refused in (
        _import(bob, TARGET, doubled),
        bob.http.post("/instruments", json=_instrument(TARGET, "1E+300")),
        bob.http.post("/instruments", json=_instrument(TARGET, "0.05")),
    ):
        assert refused.status_code in (403, 422), refused.text  # 422: an absurd tick size may fail validation first
        assert refused.headers["content-type"] == PROBLEM
    assert _import(bob, TARGET, doubled).json()["detail"] == writer_refused(TARGET)
    claim = state / "uploads" / f"{uuid.uuid4()}.csv"  # straight on Kafka, with a valid claim check
    claim.parent.mkdir(exist_ok=True)
    claim.write_bytes(doubled.read_bytes())
    forged = IngestRequested(
        job_id=uuid.uuid4(),
        user_id=bob.user_id,
        source=DataSource.CSV_FILE,
        instrument_id=TARGET,
        timeframe=Timeframe.BAR_DAILY,
        file_uri=claim.as_uri(),
    )
    event = make_event(topics.INGEST_REQUESTED, forged, source="test/outside", subject=str(forged.job_id))
    asyncio.run(publish(running.kafka_bootstrap, [(event, TARGET)]))
    failed = asyncio.run(wait_for_events(running.kafka_bootstrap, topics.INGEST_FAILED, {str(forged.job_id)}))
    assert failed[0].data.error == writer_refused(TARGET)
    refused_in = time.monotonic() - attacked
    assert alice.http.get(f"/instruments/{TARGET}").json()["tick_size"] == "0.01"

    # alice's result reproduces: same bars, same trades; and her stream ends with the result
    again = alice.http.post(f"/backtests/{original}/reproduce")
    assert again.status_code == 202, again.text
    events = server_sent_events(alice, f"/backtests/{again.json()['id']}/events", within=240)
    assert events[-1][0] == "end", events[-3:]
    ending = events[-1][1]
    assert ending["status"] == "COMPLETED"
    assert ending["result"]["trades_count"] == before["trades_count"]
    after = alice.http.get(f"/backtests/{again.json()['id']}/manifest").json()
    assert after["data"] == before["data"]  # the bars' digests
    assert after["trades_sha256"] == before["trades_sha256"]

    took = asyncio.run(settled(running.database_url, within_s=SETTLE_WITHIN_S))
    print(f"RECOVERY shared data rewrite by another user (refused, incl. the Kafka path): {refused_in:.1f} s")
    print(f"RECOVERY shared data rewrite by another user (settled after the rerun): {took:.1f} s")


def test_the_embedded_database_refuses_a_connection_without_its_password(stack: tuple[StackFile, Path]) -> None:
    running, state = stack
    port = running.database_url.rsplit(":", 1)[1].split("/")[0]
    for url in (f"postgresql://postgres@127.0.0.1:{port}/bts", f"postgresql://postgres:wrong@127.0.0.1:{port}/bts"):
        with pytest.raises(asyncpg.InvalidPasswordError):
            asyncio.run(_connect(url))
    secret = state / "postgres" / "postgres.secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert (state / "stack.json").stat().st_mode & 0o777 == 0o600  # it holds the admin URL
    assert asyncio.run(_connect(asyncpg_dsn(running.database_url))) == 1


async def _connect(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=30)
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()
