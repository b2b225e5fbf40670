"""Interactive Brokers history end to end: `bts ingest ibkr` -> gateway -> ingest service -> the real
ib_async client over TCP -> a fake TWS speaking the socket protocol; paced, chunked, retried, loaded."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bts.stackfile import StackFile, read_stack
from services.api.users import create_user
from shared.devstack.process import free_port
from shared.platform.db.urls import asyncpg_dsn
from tests.fakes.tws import FakeTws, price_at, session_dates
from tests.integration.clients import nasdaq_instrument

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


class FakeTwsThread:
    """The fake server on its own event loop, so a subprocess stack can reach it while tests block."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = FakeTws(known_symbols={"IBA", "IBB", "IBC", "IBD"})
        self.port = asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def tws() -> Iterator[FakeTwsThread]:
    server = FakeTwsThread()
    yield server
    server.close()


@pytest.fixture(scope="module")
def ib_stack(
    tws: FakeTwsThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StackFile, dict[str, str]]]:
    state = tmp_path_factory.mktemp("ib-state")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    env.update(BTS_STATE_DIR=str(state), BTS_API_URL=f"http://127.0.0.1:{free_port()}", BTS_IB_PORT=str(tws.port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bts", "up"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while (stack := read_stack(state)) is None:
            assert proc.poll() is None, "bts up exited"
            assert time.monotonic() < deadline
            time.sleep(0.2)
        key = asyncio.run(_user_key(stack))
        cli = {"BTS_API_URL": stack.api_url, "BTS_API_KEY": key}
        with httpx.Client(base_url=stack.api_url + "/api/v1", headers={"Authorization": f"Bearer {key}"}) as http:
            for symbol in ("IBA", "IBB", "IBC", "IBD", "NOPE"):
                http.post("/instruments", json=nasdaq_instrument(symbol)).raise_for_status()
        yield stack, cli
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def _user_key(stack: StackFile) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        return (await create_user(conn, f"ib-{uuid.uuid4().hex[:6]}")).api_key
    finally:
        await conn.close()


def bts(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    result = subprocess.run(
        [sys.executable, "-m", "bts", *args],
        env={**clean, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result


def _bars(stack: StackFile, cli: dict[str, str], instrument: str, timeframe: str, start: str, end: str) -> list[Any]:
    response = httpx.get(
        f"{stack.api_url}/api/v1/market-data/{instrument}",
        timeout=60,
        params={"timeframe": timeframe, "start": start, "end": end},
        headers={"Authorization": f"Bearer {cli['BTS_API_KEY']}"},
    )
    response.raise_for_status()
    rows: list[Any] = response.json()
    return rows


def test_a_month_of_minute_bars_is_paced_chunked_loaded_and_read_back_exactly(
    ib_stack: tuple[StackFile, dict[str, str]], tws: FakeTwsThread
) -> None:
    stack, cli = ib_stack
    before = len(tws.fake.requests)
    result = bts(
        "ingest",
        "ibkr",
        "--instrument",
        "IBA.NASDAQ",
        "--timeframe",
        "BAR_1MIN",
        "--start",
        "2024-02-01",
        "--end",
        "2024-03-01",
        "--json",
        env=cli,
    )
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    sessions = session_dates(date(2024, 2, 1), date(2024, 2, 29))
    assert job["status"] == "COMPLETED"
    assert job["rows_loaded"] == 390 * len(sessions) == 390 * 20

    requests = tws.fake.requests[before:]
    assert len(requests) == 29  # one "1 D" request per day of the range (IB's longest for 1-minute bars)
    assert {(r.symbol, r.bar_size, r.duration, r.what_to_show, r.primary_exchange) for r in requests} == {
        ("IBA", "1 min", "1 D", "TRADES", "NASDAQ")
    }
    starts = sorted(r.received_at for r in requests)
    assert all(b - a >= 1.99 for a, b in zip(starts, starts[5:], strict=False))  # <= 5 per contract in 2 s

    bars = _bars(stack, cli, "IBA.NASDAQ", "BAR_1MIN", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z")
    assert len(bars) == 7800
    for bar in bars[::97]:
        ts = datetime.fromisoformat(bar["timestamp"])
        assert float(bar["open"]) == price_at(ts)
        assert float(bar["close"]) == price_at(ts + timedelta(minutes=1))
    assert bars[0]["timestamp"] == "2024-02-01T14:30:00Z"  # 09:30 New York, stored in UTC


def test_daily_history_and_a_pacing_violation_that_is_retried(
    ib_stack: tuple[StackFile, dict[str, str]], tws: FakeTwsThread
) -> None:
    stack, cli = ib_stack
    before = len(tws.fake.requests)
    tws.fake.fail_requests = {
        before + 2: (
            162,
            "Historical Market Data Service error message:API historical data query cancelled: pacing violation",
        )
    }
    result = bts(
        "ingest",
        "ibkr",
        "--instrument",
        "IBB.NASDAQ",
        "--timeframe",
        "BAR_DAILY",
        "--start",
        "2019-01-01",
        "--end",
        "2022-01-01",
        "--json",
        env=cli,
    )
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["rows_loaded"] == len(session_dates(date(2019, 1, 1), date(2021, 12, 31)))
    assert len(tws.fake.requests) - before == 4 + 1  # 3 years in 365-day requests (+1 for the remainder), 1 retry
    bars = _bars(stack, cli, "IBB.NASDAQ", "BAR_DAILY", "2019-01-01T00:00:00Z", "2022-01-01T00:00:00Z")
    assert bars[0]["timestamp"] == "2019-01-02T00:00:00Z"  # a daily bar is its session date at 00:00 UTC


def test_an_unknown_contract_fails_clearly(ib_stack: tuple[StackFile, dict[str, str]]) -> None:
    _, cli = ib_stack
    result = bts(
        "ingest",
        "ibkr",
        "--instrument",
        "NOPE.NASDAQ",
        "--timeframe",
        "BAR_DAILY",
        "--start",
        "2023-01-01",
        "--end",
        "2023-03-01",
        env=cli,
    )
    assert result.returncode == 1
    assert "IB has no contract for NOPE.NASDAQ" in result.stderr


def test_a_dropped_connection_is_reconnected(ib_stack: tuple[StackFile, dict[str, str]], tws: FakeTwsThread) -> None:
    _, cli = ib_stack
    before, connections = len(tws.fake.requests), tws.fake.connections
    tws.fake.drop_connection_on = {before + 2}
    result = bts(
        "ingest",
        "ibkr",
        "--instrument",
        "IBC.NASDAQ",
        "--timeframe",
        "BAR_1HOUR",
        "--start",
        "2024-01-01",
        "--end",
        "2024-04-01",
        "--json",
        env=cli,
    )
    assert result.returncode == 0, result.stderr
    assert tws.fake.connections - connections == 2
    sessions = session_dates(date(2024, 1, 1), date(2024, 3, 31))
    assert json.loads(result.stdout)["rows_loaded"] == 7 * len(sessions)  # 09:30..15:30 starts, 7 bars a day


def test_a_job_that_cannot_finish_keeps_what_it_committed(
    ib_stack: tuple[StackFile, dict[str, str]], tws: FakeTwsThread
) -> None:
    stack, cli = ib_stack
    before = len(tws.fake.requests)
    tws.fake.fail_requests = {before + 3: (354, "Requested market data is not subscribed")}
    result = bts(
        "ingest",
        "ibkr",
        "--instrument",
        "IBD.NASDAQ",
        "--timeframe",
        "BAR_5MIN",
        "--start",
        "2024-01-01",
        "--end",
        "2024-02-05",
        "--json",
        env=cli,
    )
    assert result.returncode == 1
    job = json.loads(result.stdout)
    assert job["status"] == "FAILED"
    assert "IB error 354" in job["error_message"]
    assert "after 2 of 5 requests" in job["error_message"]
    kept = _bars(stack, cli, "IBD.NASDAQ", "BAR_5MIN", "2024-01-01T00:00:00Z", "2024-02-05T00:00:00Z")
    assert len(kept) == job["rows_loaded"] > 0
    assert datetime.fromisoformat(kept[-1]["timestamp"]) < datetime(2024, 1, 15, tzinfo=UTC)


def test_the_fake_speaks_to_the_real_client_directly(tmp_path: Path) -> None:
    """Without the stack: ib_async connects to the fake and reads bars (a fast check of the fake itself)."""
    from ib_async import IB, Stock

    async def run() -> list[Any]:
        async with FakeTws() as fake:
            ib = IB()
            started = time.monotonic()
            await ib.connectAsync("127.0.0.1", fake.port, clientId=7, timeout=5)
            assert time.monotonic() - started < 2
            bars = await ib.reqHistoricalDataAsync(
                Stock("IBA", "SMART", "USD"),
                endDateTime=datetime(2024, 1, 6, tzinfo=UTC),
                durationStr="5 D",
                barSizeSetting="1 day",
                whatToShow="TRADES",
                useRTH=True,
            )
            ib.disconnect()
            return list(bars)

    bars = asyncio.run(run())
    assert [b.date for b in bars] == [date(2024, 1, d) for d in (2, 3, 4, 5)]
