"""Hostile input through every user-supplied string fails cleanly on a running stack: SQL injection is data
or a 4xx problem, never SQL; path traversal never writes or reads outside the uploads folder; oversized
bodies are refused before they are stored; another user's ids answer 404, never data. The database is intact
afterwards and no answer is a 500."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from bts.stackfile import StackFile
from shared.contracts import topics
from shared.contracts.events import IngestRequested, make_event
from shared.contracts.models import DataSource, Timeframe
from shared.platform.db.urls import asyncpg_dsn
from tests.integration.clients import PROBLEM, Api
from tests.integration.conftest import publish, wait_for_events
from tests.integration.market import write_daily_csv
from tests.integration.stack import started_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]
UPLOAD_LIMIT = 64 * 1024
REQUEST_LIMIT = 32 * 1024
INJECTIONS = [
    "'; DROP TABLE api.users; --",
    "x' OR '1'='1",
    "1; SELECT pg_sleep(10)",
    "\\'; DELETE FROM api.strategies; --",
    "$1) OR true --",
    "Robert'); DROP TABLE ingest.market_data;--",
]
TABLES = [
    "api.users",
    "api.api_keys",
    "api.instruments",
    "api.strategies",
    "api.import_jobs",
    "api.backtest_status",
    "ingest.market_data",
    "engine.backtest_results",
    "engine.trades",
    "reporting.performance_reports",
]
MULTIPART = {"Content-Type": "multipart/form-data; boundary=bts-test-boundary"}
MOMENTUM = {"strategy_type": "MOMENTUM", "parameters": {"lookback": 10, "threshold": 0.01}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StackFile, Path]]:
    state = tmp_path_factory.mktemp("secure-state")
    limits = {"BTS_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT), "BTS_MAX_REQUEST_BYTES": str(REQUEST_LIMIT)}
    with started_stack(state, limits) as running:
        yield running, state


@pytest.fixture(scope="module")
def alice(stack: tuple[StackFile, Path]) -> Iterator[Api]:
    api = Api(stack[0], "alice")
    yield api
    api.http.close()


@pytest.fixture(scope="module")
def bob(stack: tuple[StackFile, Path]) -> Iterator[Api]:
    api = Api(stack[0], "bob")
    yield api
    api.http.close()


def _instrument(symbol: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": f"{symbol}.NASDAQ",
        "symbol": symbol,
        "exchange": "NASDAQ",
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": 1,
        "margin_requirement": "25",
        **overrides,
    }


@pytest.fixture(scope="module")
def instrument(alice: Api, tmp_path_factory: pytest.TempPathFactory) -> str:
    """SECA.NASDAQ registered, with two years of daily bars."""
    assert alice.http.post("/instruments", json=_instrument("SECA")).status_code == 201
    path = tmp_path_factory.mktemp("secure-bars") / "SECA.csv"
    write_daily_csv(path, 3)
    assert path.stat().st_size < UPLOAD_LIMIT
    with path.open("rb") as file:
        accepted = alice.http.post(
            "/market-data/import",
            files={"file": ("SECA.csv", file, "text/csv")},
            data={"instrument_id": "SECA.NASDAQ", "timeframe": "BAR_DAILY"},
        )
    assert accepted.status_code == 202, accepted.text
    assert alice.wait(f"/market-data/import/{accepted.json()['job_id']}", {"COMPLETED", "FAILED"})["status"] == (
        "COMPLETED"
    )
    return "SECA.NASDAQ"


def _clean_refusal(response: httpx.Response, *statuses: int) -> None:
    """A 4xx problem document, never a 500 (nor a stack trace)."""
    assert response.status_code in statuses, (response.request.url, response.status_code, response.text[:300])
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == response.status_code
    assert "Traceback" not in response.text


async def _table_counts(stack: StackFile) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        return {table: int(await conn.fetchval(f"SELECT count(*) FROM {table}")) for table in TABLES}
    finally:
        await conn.close()


def test_sql_injection_through_every_string_is_data_or_a_clean_refusal(
    stack: tuple[StackFile, Path], alice: Api, instrument: str
) -> None:
    running, _ = stack
    before = asyncio.run(_table_counts(running))
    window = {"timeframe": "BAR_DAILY", "start": "2020-01-01T00:00:00Z", "end": "2020-02-01T00:00:00Z"}
    strategy_ids = []
    for n, payload in enumerate(INJECTIONS):
        # strategy names are free text: stored and read back verbatim, never executed
        body = {"name": payload, "strategy_type": "MOMENTUM", "parameters": {"lookback": 10 + n, "threshold": 0.01}}
        created = alice.http.post("/strategies", json=body)
        assert created.status_code == 201, created.text
        strategy_ids.append(created.json()["id"])
        assert alice.http.get(f"/strategies/{created.json()['id']}").json()["name"] == payload
        renamed = alice.http.patch(f"/strategies/{created.json()['id']}", json={"name": payload + " v2"})
        assert renamed.json()["name"] == payload + " v2"
        # identifiers, enums, dates and ids have a shape: anything else is refused with the field named
        quoted = quote(payload, safe="")
        _clean_refusal(alice.http.post("/instruments", json=_instrument("X", id=payload)), 422)
        _clean_refusal(alice.http.post("/instruments", json=_instrument(payload)), 422)
        _clean_refusal(alice.http.get(f"/instruments/{quoted}"), 404, 422)
        _clean_refusal(alice.http.get(f"/market-data/{quoted}", params=window), 404, 422)
        _clean_refusal(alice.http.get(f"/market-data/{instrument}", params={**window, "timeframe": payload}), 422)
        _clean_refusal(alice.http.get(f"/market-data/{instrument}", params={**window, "start": payload}), 422)
        _clean_refusal(alice.http.get(f"/market-data/{instrument}", params={**window, "format": payload}), 422)
        _clean_refusal(alice.http.get(f"/market-data/import/{quoted}"), 404, 422)
        _clean_refusal(
            alice.http.post(
                "/market-data/import",
                files={"file": ("a.csv", b"timestamp\n", "text/csv")},
                data={"instrument_id": payload, "timeframe": "BAR_DAILY"},
            ),
            422,
        )
        _clean_refusal(
            alice.http.post(
                "/market-data/ibkr",
                json={
                    "instrument_id": payload,
                    "timeframe": "BAR_DAILY",
                    "start": "2024-01-02T00:00:00Z",
                    "end": "2024-02-01T00:00:00Z",
                },
            ),
            422,
        )
        _clean_refusal(alice.http.get("/backtests", params={"status": payload}), 422)
        _clean_refusal(alice.http.get("/backtests", params={"limit": payload}), 422)
        _clean_refusal(alice.http.get("/strategies", params={"status": payload}), 422)
        for path in (
            f"/backtests/{quoted}",
            f"/backtests/{quoted}/result",
            f"/reports/{quoted}/download",
            f"/strategies/{quoted}",
        ):
            _clean_refusal(alice.http.get(path), 404, 422)
        submit = {
            "strategy_id": strategy_ids[0],
            "instrument_ids": [payload],
            "start_date": "2020-01-01",
            "end_date": "2021-12-31",
        }
        _clean_refusal(alice.http.post("/backtests", json=submit), 422)
        _clean_refusal(
            alice.http.post("/backtests", json={**submit, "instrument_ids": [instrument], "benchmark_symbol": payload}),
            422,
        )
        bad_parameters = {**body, "name": f"p{n}", "parameters": {"lookback": 10, "threshold": 0.01, payload: 1}}
        _clean_refusal(alice.http.post("/strategies", json=bad_parameters), 422)
    # control characters (PostgreSQL cannot store NUL) are refused too, not a database error
    _clean_refusal(alice.http.post("/strategies", json={"name": "nul\u0000byte", **MOMENTUM}), 422)
    _clean_refusal(
        alice.http.post("/instruments", json=_instrument("NULTZ", trading_hours={"timezone": "\u0000"})), 422
    )

    after = asyncio.run(_table_counts(running))
    assert after == {**before, "api.strategies": before["api.strategies"] + len(INJECTIONS)}  # only our strategies
    listed = {s["name"] for s in alice.http.get("/strategies").json()["items"]}
    assert {p + " v2" for p in INJECTIONS} <= listed


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and "postgres" not in p.relative_to(root).parts[:1]}


def _multipart(file_name: bytes, content: bytes, fields: dict[str, str], boundary: str = "bts-test-boundary") -> bytes:
    """A multipart body with exactly the file name given (clients would escape or refuse some)."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + file_name
        + b'"\r\nContent-Type: text/csv\r\n\r\n'
        + content
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def test_path_traversal_never_leaves_the_uploads_folder(
    stack: tuple[StackFile, Path], alice: Api, instrument: str, tmp_path: Path
) -> None:
    running, state = stack
    uploads = state / "uploads"
    before = _files(state) - _files(state / "logs")
    csv_text = b"timestamp,open,high,low,close,volume\n2021-03-01,10,11,9,10.5,100\n"
    names = [
        b"../../../../../../tmp/bts-evil.csv",
        b"/tmp/bts-evil-absolute.csv",
        b"..\\..\\bts-evil.csv",
        b"%2e%2e%2f%2e%2e%2fbts-evil.csv",
        b"a/b/../../../bts-evil.csv",
        b"....//....//bts-evil.csv",
        b"evil\x00.csv",
        (str(tmp_path / "bts-evil.csv")).encode(),
    ]
    accepted = 0
    for name in names:
        body = _multipart(name, csv_text, {"instrument_id": instrument, "timeframe": "BAR_DAILY"})
        answer = alice.http.post("/market-data/import", content=body, headers=MULTIPART)
        assert answer.status_code in (202, 400, 422), (name, answer.text)
        if answer.status_code != 202:
            _clean_refusal(answer, 400, 422)
        accepted += answer.status_code == 202
    new = (_files(state) - _files(state / "logs")) - before
    assert len(new) == accepted > 0  # one stored file per accepted upload, no orphan
    for path in new:  # only <job id>.csv files, all in the uploads folder
        assert path.parent == uploads, path
        assert uuid.UUID(path.stem)
        assert path.suffix == ".csv"
    for evil in (
        Path("/tmp/bts-evil.csv"),
        Path("/tmp/bts-evil-absolute.csv"),
        tmp_path / "bts-evil.csv",
        state.parent / "bts-evil.csv",
        state / "bts-evil.csv",
    ):
        assert not evil.exists(), evil

    # ids in paths: a shape check or a lookup, never a file path
    for attempt in ("..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%5C..%5Cwin.ini"):
        for path in (
            f"/instruments/{attempt}",
            f"/reports/{attempt}/download",
            f"/market-data/import/{attempt}",
            f"/backtests/{attempt}/reports",
        ):
            _clean_refusal(alice.http.get(path), 404, 422)
        _clean_refusal(
            alice.http.get(
                f"/market-data/{attempt}", params={"timeframe": "BAR_DAILY", "start": "2020-01-01", "end": "2020-02-01"}
            ),
            404,
            422,
        )

    # a claim check from a producer outside the gateway cannot make ingest read another file
    jobs = {}
    for uri in ("file:///etc/passwd", (uploads / ".." / ".." / "secret.csv").as_uri(), "file:///proc/self/environ"):
        request = IngestRequested(
            job_id=uuid.uuid4(),
            source=DataSource.CSV_FILE,
            instrument_id=instrument,
            timeframe=Timeframe.BAR_DAILY,
            file_uri=uri,
        )
        jobs[str(request.job_id)] = make_event(
            topics.INGEST_REQUESTED, request, source="test/outside", subject=str(request.job_id)
        )
    asyncio.run(publish(running.kafka_bootstrap, [(event, instrument) for event in jobs.values()]))
    failed = asyncio.run(wait_for_events(running.kafka_bootstrap, topics.INGEST_FAILED, set(jobs)))
    for event in failed:
        assert "uploads folder" in event.data.error, event.data.error
        assert event.data.rows_loaded == 0
        assert event.data.errors == []  # nothing of the file's content comes back


def _daily_csv_bytes(size: int) -> bytes:
    """A CSV of about `size` bytes (valid rows, so only its size can be refused)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "open", "high", "low", "close", "volume"])
    day = 0
    while out.tell() < size:
        writer.writerow([f"2021-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}", 10, 11, 9, 10.5, 100])
        day += 1
    return out.getvalue().encode()[:size]


async def _import_jobs_of(stack: StackFile, user_id: uuid.UUID) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM api.import_jobs WHERE user_id = $1", user_id))
    finally:
        await conn.close()


def test_oversized_bodies_are_refused_before_they_are_stored(
    stack: tuple[StackFile, Path], bob: Api, instrument: str
) -> None:
    running, state = stack
    uploads = state / "uploads"
    stored_before = set(uploads.glob("*")) if uploads.exists() else set()
    jobs_before = asyncio.run(_import_jobs_of(running, bob.user_id))
    # bob's own instrument: only its owner (or an admin) may import bars of an instrument
    assert bob.http.post("/instruments", json=_instrument("SECB")).status_code == 201
    form = {"instrument_id": "SECB.NASDAQ", "timeframe": "BAR_DAILY"}

    far_over = bob.http.post(
        "/market-data/import", files={"file": ("big.csv", _daily_csv_bytes(4 * UPLOAD_LIMIT))}, data=form
    )  # refused on its Content-Length, unread
    _clean_refusal(far_over, 413)
    assert f"{UPLOAD_LIMIT}-byte" in far_over.json()["detail"]
    just_over = bob.http.post(
        "/market-data/import", files={"file": ("big.csv", _daily_csv_bytes(UPLOAD_LIMIT + 1))}, data=form
    )  # within the multipart slack: refused while it is written
    _clean_refusal(just_over, 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        body = _multipart(b"chunked.csv", _daily_csv_bytes(4 * UPLOAD_LIMIT), form)
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    chunked = bob.http.post("/market-data/import", content=chunks(), headers=MULTIPART)
    _clean_refusal(chunked, 413)
    huge_json = {"name": "x" * (2 * REQUEST_LIMIT), **MOMENTUM}
    _clean_refusal(bob.http.post("/strategies", json=huge_json), 413)

    assert (set(uploads.glob("*")) if uploads.exists() else set()) == stored_before  # nothing kept, not even a part
    assert asyncio.run(_import_jobs_of(running, bob.user_id)) == jobs_before  # and no job made
    under = bob.http.post(
        "/market-data/import",
        files={"file": ("ok.csv", _daily_csv_bytes(UPLOAD_LIMIT - 1))},
        data={**form, "skip_invalid": "true"},
    )
    assert under.status_code == 202, under.text  # the limit is the limit, not less


def test_another_users_ids_answer_404_never_data(alice: Api, bob: Api, instrument: str, tmp_path: Path) -> None:
    name = f"alice-secret-{uuid.uuid4().hex[:6]}"
    body = {"name": name, "strategy_type": "SMA_CROSSOVER", "parameters": {"fast_period": 5, "slow_period": 20}}
    strategy = alice.http.post("/strategies", json=body).json()
    assert alice.http.post(f"/strategies/{strategy['id']}/activate").status_code == 200
    job = alice.http.post(
        "/market-data/import",
        files={"file": ("again.csv", b"timestamp,open,high,low,close,volume\n2021-03-01,10,11,9,10.5,100\n")},
        data={"instrument_id": instrument, "timeframe": "BAR_DAILY"},
    ).json()["job_id"]
    submitted = alice.http.post(
        "/backtests",
        json={
            "strategy_id": strategy["id"],
            "instrument_ids": [instrument],
            "start_date": "2020-01-01",
            "end_date": "2021-12-31",
        },
    )
    assert submitted.status_code == 202, submitted.text
    backtest_id = submitted.json()["id"]
    assert alice.wait(f"/backtests/{backtest_id}", {"COMPLETED", "FAILED"})["status"] == "COMPLETED"
    deadline = time.monotonic() + 60
    while not (reports := alice.http.get(f"/backtests/{backtest_id}/reports").json()):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    secrets = [name, backtest_id, strategy["id"]]

    attempts = [
        ("GET", f"/strategies/{strategy['id']}"),
        ("PATCH", f"/strategies/{strategy['id']}"),
        ("POST", f"/strategies/{strategy['id']}/archive"),
        ("GET", f"/market-data/import/{job}"),
        ("GET", f"/backtests/{backtest_id}"),
        ("GET", f"/backtests/{backtest_id}/result"),
        ("GET", f"/backtests/{backtest_id}/trades"),
        ("GET", f"/backtests/{backtest_id}/portfolio"),
        ("GET", f"/backtests/{backtest_id}/reports"),
        ("GET", f"/backtests/{backtest_id}/events"),
        *[("GET", f"/reports/{r['id']}/download") for r in reports],
    ]
    for method, path in attempts:
        answer = bob.http.request(method, path, json={"name": "mine now"} if method == "PATCH" else None)
        _clean_refusal(answer, 404)
        assert name not in answer.text
        assert "trades_count" not in answer.text
    listed = bob.http.get("/strategies").text + bob.http.get("/backtests").text
    assert not any(secret in listed for secret in secrets)
    theirs = bob.http.post(
        "/backtests",
        json={
            "strategy_id": strategy["id"],
            "instrument_ids": [instrument],
            "start_date": "2020-01-01",
            "end_date": "2021-12-31",
        },
    )
    _clean_refusal(theirs, 422)
    assert name not in theirs.text
    assert alice.http.get(f"/strategies/{strategy['id']}").json()["status"] == "ACTIVE"  # untouched by bob
