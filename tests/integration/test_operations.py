"""Operations on a running `bts up` stack: /ops is for admins; dead letters listed, fixed and replayed once
with `bts ops dlq`; a request's correlation id in every service's JSON log; an expired result answers 410."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bts.stackfile import StackFile
from services.engine.retention import ResultRetention
from shared.contracts import topics
from shared.contracts.events import BacktestCompleted, BacktestRequested, StrategySpec, make_event
from shared.contracts.models import BacktestConfiguration, PerformanceMetrics, StrategyType
from shared.platform.db.urls import asyncpg_dsn, role_url
from tests.integration.clients import PROBLEM, Api, bts
from tests.integration.conftest import publish
from tests.integration.market import write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def admin(running_stack: StackFile) -> Iterator[Api]:
    api = Api(running_stack, "operator", admin=True)
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def user(running_stack: StackFile) -> Iterator[Api]:
    api = Api(running_stack, "quant")
    yield api
    api.http.close()


def _eventually(check: Callable[[], Any], within: float = 120, every: float = 0.5) -> Any:
    deadline = time.monotonic() + within
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)
    return found


async def _fetchval(stack: StackFile, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def test_operations_are_for_admins(running_stack: StackFile, admin: Api, user: Api) -> None:
    routes = [
        ("GET", "/ops/consumers"),
        ("GET", f"/ops/dlq/{topics.BACKTEST_REQUESTED}"),
        ("POST", f"/ops/dlq/{topics.BACKTEST_REQUESTED}/replay"),
    ]
    for method, path in routes:
        refused = user.http.request(method, path)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.headers["content-type"] == PROBLEM
        assert "admin" in refused.json()["detail"]
        assert admin.http.request(method, path).status_code == 200, path
        assert admin.http.request(method, path, headers={"Authorization": "Bearer nope"}).status_code == 401
    listing = admin.http.get(f"/ops/dlq/{topics.BACKTEST_REQUESTED}").json()
    assert listing["dlq_topic"] == "backtest.requested.dlq"
    for unknown in ("no.such.topic", "backtest.requested.dlq"):
        answer = admin.http.get(f"/ops/dlq/{unknown}")
        assert answer.status_code == 404, unknown
        assert answer.headers["content-type"] == PROBLEM
        assert all(topic in answer.json()["detail"] for topic in topics.ALL_TOPICS)  # it names the known ones
    traversal = admin.http.get("/ops/dlq/..%2F..%2Fetc%2Fpasswd")
    assert traversal.status_code == 404
    assert traversal.headers["content-type"] == PROBLEM


def _metrics() -> PerformanceMetrics:
    return PerformanceMetrics.model_validate(
        {
            "returns": {"total_return": 0.1, "cagr": 0.05, "annualized_return": 0.05},
            "risk": {"max_drawdown": -0.1, "sharpe_ratio": 1.0, "sortino_ratio": 1.2, "volatility": 0.1},
            "trading": {"win_rate": 0.5, "avg_win": 10.0, "avg_loss": -5.0, "profit_factor": 2.0, "expectancy": 2.5},
            "benchmark": {"benchmark_return": None, "alpha": None, "beta": None},
        }
    )


def test_a_dead_letter_is_listed_fixed_and_replayed_once(running_stack: StackFile, admin: Api, user: Api) -> None:
    stack, owner, backtest_id = running_stack, uuid.uuid4(), uuid.uuid4()
    env = {"BTS_API_URL": stack.api_url, "BTS_API_KEY": admin.key}
    # reporting gets a backtest.completed whose result the engine never wrote: it retries, then gives up
    completed = make_event(
        topics.BACKTEST_COMPLETED,
        BacktestCompleted(
            backtest_id=backtest_id,
            user_id=owner,
            configuration_id=uuid.uuid4(),
            trades_count=2,
            winning_trades=1,
            losing_trades=1,
            metrics=_metrics(),
            start_date=date(2020, 1, 1),
            end_date=date(2020, 12, 31),
            initial_capital=100_000,
            final_value=110_000,
        ),
        source="test/outside",
        subject=str(backtest_id),
    )  # type: ignore[arg-type]
    asyncio.run(publish(stack.kafka_bootstrap, [(completed, str(owner))]))

    def ours() -> list[dict[str, Any]]:
        listed = bts("ops", "dlq", "list", topics.BACKTEST_COMPLETED, "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        return [x for x in json.loads(listed.stdout)["letters"] if x["key"] == str(owner)]

    [letter] = _eventually(ours)
    assert letter["consumer_group"] == "bts-reporting"
    assert letter["attempts"] == 3
    assert f"backtest result {backtest_id} does not exist" in letter["error"]
    assert letter["replayed"] is False
    table = bts("ops", "dlq", "list", topics.BACKTEST_COMPLETED, env=env)
    assert "bts-reporting" in table.stdout
    assert "not replayed yet" in table.stdout
    refused = bts("ops", "dlq", "replay", topics.BACKTEST_COMPLETED, env={**env, "BTS_API_KEY": user.key})
    assert refused.returncode == 1
    assert "admin" in refused.stderr

    # the fix: the backtest is run (it fails at once on its unknown instrument, but its result now exists)
    request = BacktestRequested(
        backtest_id=backtest_id,
        user_id=owner,
        configuration=BacktestConfiguration(
            strategy_id=uuid.uuid4(),
            instrument_ids=["NOPE.NASDAQ"],
            start_date=date(2020, 1, 1),
            end_date=date(2020, 12, 31),
        ),
        strategy=StrategySpec(strategy_type=StrategyType.MOMENTUM, parameters={"lookback": 10, "threshold": 0.01}),
    )
    asyncio.run(
        publish(
            stack.kafka_bootstrap,
            [
                (
                    make_event(topics.BACKTEST_REQUESTED, request, source="test/outside", subject=str(backtest_id)),
                    str(owner),
                )
            ],
        )
    )
    _eventually(
        lambda: (
            asyncio.run(_fetchval(stack, "SELECT status FROM engine.backtest_results WHERE id = $1", backtest_id))
            == "FAILED"
        )
    )

    replayed = bts("ops", "dlq", "replay", topics.BACKTEST_COMPLETED, "--json", env=env)
    assert replayed.returncode == 0, replayed.stderr
    outcome = json.loads(replayed.stdout)
    assert letter["dlq_offset"] in [x["dlq_offset"] for x in outcome["replayed"]]
    assert outcome["count"] == len(outcome["replayed"]) >= 1

    # reporting consumed it this time (it is idempotent per backtest, so the result's FAILED event had already
    # made the reports): its group has no lag on the topic, and nothing was dead-lettered again
    def drained() -> bool:
        lag = bts("ops", "lag", "--group", "bts-reporting", "--all", "--json", env=env)
        assert lag.returncode == 0, lag.stderr
        rows = [r for r in json.loads(lag.stdout) if r["topic"] == topics.BACKTEST_COMPLETED]
        return bool(rows) and all(r["lag"] == 0 for r in rows)

    _eventually(drained)

    again = bts("ops", "dlq", "replay", topics.BACKTEST_COMPLETED, env=env)
    assert again.returncode == 0
    assert "nothing to replay" in again.stdout
    [after] = ours()
    assert after["replayed"] is True


def _instrument(symbol: str) -> dict[str, Any]:
    return {
        "id": f"{symbol}.NASDAQ",
        "symbol": symbol,
        "exchange": "NASDAQ",
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": 1,
        "margin_requirement": "25",
    }


@pytest.fixture(scope="module", autouse=True)
def log_marks(running_stack: StackFile) -> dict[str, int]:
    """The size of each service's log as this module starts: the stack is shared, and the lines written
    before are other modules' traffic (theirs to check)."""
    return {service.name: Path(service.log).stat().st_size for service in running_stack.services}


def _log_lines(stack: StackFile, since: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """Each service's log lines written since `since`, every line a JSON object (structured logs, libraries'
    lines included)."""
    lines: dict[str, list[dict[str, Any]]] = {}
    for service in stack.services:
        start = max(since[service.name] - 1, 0)
        with Path(service.log).open("rb") as file:
            file.seek(start)
            text = file.read().decode()
        if start:  # from the byte before the mark: its newline, or the rest of a line cut by the mark
            text = text.split("\n", 1)[1]
        lines[service.name] = [json.loads(raw) for raw in text.split("\n")[:-1]]  # whole lines (ending in \n)
    return lines


def _services_with(stack: StackFile, since: dict[str, int], correlation_id: str) -> set[str]:
    return {
        name
        for name, lines in _log_lines(stack, since).items()
        if any(line.get("correlation_id") == correlation_id for line in lines)
    }


@pytest.fixture(scope="module")
def traced_backtest(running_stack: StackFile, user: Api, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One CSV import and one backtest through the gateway, each with a correlation id of the caller's."""
    symbol = f"T{uuid.uuid4().hex[:4].upper()}"
    assert user.http.post("/instruments", json=_instrument(symbol)).status_code == 201
    path = tmp_path_factory.mktemp("traced") / "bars.csv"
    write_daily_csv(path, 7)
    ingest_id = f"ingest-{uuid.uuid4().hex}"
    with path.open("rb") as file:
        accepted = user.http.post(
            "/market-data/import",
            files={"file": (path.name, file, "text/csv")},
            data={"instrument_id": f"{symbol}.NASDAQ", "timeframe": "BAR_DAILY"},
            headers={"X-Correlation-ID": ingest_id},
        )
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["x-correlation-id"] == ingest_id
    assert user.wait(f"/market-data/import/{accepted.json()['job_id']}", {"COMPLETED", "FAILED"})["status"] == (
        "COMPLETED"
    )
    body = {
        "name": f"traced-{symbol}",
        "strategy_type": "SMA_CROSSOVER",
        "parameters": {"fast_period": 5, "slow_period": 20},
    }
    strategy = user.http.post("/strategies", json=body).json()
    assert user.http.post(f"/strategies/{strategy['id']}/activate").status_code == 200
    backtest_cid = f"backtest-{uuid.uuid4().hex}"
    submitted = user.http.post(
        "/backtests",
        headers={"X-Correlation-ID": backtest_cid},
        json={
            "strategy_id": strategy["id"],
            "instrument_ids": [f"{symbol}.NASDAQ"],
            "start_date": "2020-01-01",
            "end_date": "2021-12-31",
        },
    )
    assert submitted.status_code == 202, submitted.text
    assert submitted.headers["x-correlation-id"] == backtest_cid
    backtest_id = submitted.json()["id"]
    assert user.wait(f"/backtests/{backtest_id}", {"COMPLETED", "FAILED"})["status"] == "COMPLETED"
    _eventually(lambda: len(user.http.get(f"/backtests/{backtest_id}/reports").json()) == 4)
    return {"ingest": ingest_id, "backtest": backtest_cid, "id": backtest_id}


def test_a_request_carries_its_correlation_id_through_every_service(
    running_stack: StackFile, user: Api, traced_backtest: dict[str, str], log_marks: dict[str, int]
) -> None:
    stack, since = running_stack, log_marks
    _eventually(lambda: _services_with(stack, since, traced_backtest["backtest"]) == {"api", "engine", "reporting"})
    assert _services_with(stack, since, traced_backtest["ingest"]) == {"api", "ingest"}
    engine_lines = [
        x for x in _log_lines(stack, since)["engine"] if x.get("correlation_id") == traced_backtest["backtest"]
    ]
    assert {"message handled", "backtest finished"} <= {x["event"] for x in engine_lines}
    assert all(x.get("event_id") for x in engine_lines)  # and the id of the event being handled
    api_lines = [x for x in _log_lines(stack, since)["api"] if x.get("correlation_id") == traced_backtest["backtest"]]
    assert any(
        x["event"] == "http request" and x["path"] == "/api/v1/backtests" and x["status"] == 202 for x in api_lines
    )

    made = user.http.get("/backtests", headers={"X-Correlation-ID": "not a valid id"})
    assert made.status_code == 200
    assert len(made.headers["x-correlation-id"]) == 36  # a new one instead
    assert user.http.get("/backtests").headers["x-correlation-id"] != made.headers["x-correlation-id"]


def test_an_expired_result_answers_gone(running_stack: StackFile, user: Api, traced_backtest: dict[str, str]) -> None:
    backtest_id = traced_backtest["id"]
    assert user.http.get(f"/backtests/{backtest_id}/trades").status_code == 200  # (a finished /result is cached)

    async def expire() -> int:  # the engine's retention job, a year and a day later
        pool = await asyncpg.create_pool(role_url(running_stack.database_url, "engine", "bts"), min_size=1, max_size=1)
        try:
            later = datetime.now(UTC) + timedelta(days=366)
            return await ResultRetention(pool, keep=timedelta(days=365), clock=lambda: later).run_once()
        finally:
            await pool.close()

    assert asyncio.run(expire()) >= 1
    status = user.http.get(f"/backtests/{backtest_id}")
    assert status.status_code == 200
    assert status.json()["status"] == "COMPLETED"  # the backtest did run: its status stays
    for path in ("result", "trades", "portfolio"):
        gone = user.http.get(f"/backtests/{backtest_id}/{path}")
        assert gone.status_code == 410, (path, gone.text)
        assert gone.headers["content-type"] == PROBLEM
        assert "deleted" in gone.json()["detail"]
        assert "365 days" in gone.json()["detail"]
