"""Duplicate delivery changes nothing the second time, for every event type a service consumes.

Real work runs once (an upload through the gateway that loads, one that fails, a backtest that
completes, one that fails, with their progress, results and reports). Then every event ever written
to a consumed topic is delivered again, byte for byte, and, separately, every request is sent again
in a new envelope (new event id, same job_id / backtest_id). After each, the services' tables (rows
and their values), the report files (content and modification time), the outboxes and the number of
events on every topic are what they were after the first delivery: nothing ran again, nothing was
announced again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.api.users import new_key_for
from shared.contracts import topics
from shared.contracts.events import parse_event
from shared.platform.db.urls import asyncpg_dsn
from tests.faults.stack_control import CONSUMERS, LiveStack, backtest_event, file_digest, live_stack, message, until
from tests.integration.market import load_daily_symbols, register_owners, write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

TRADED, UPLOADED, BROKEN = "DPA.NASDAQ", "DPI.NASDAQ", "DPB.NASDAQ"
# Domain state: everything the services own, bookkeeping of seen event ids (processed_events) aside.
TABLES = (
    "ingest.market_data",
    "engine.backtest_results",
    "engine.trades",
    "engine.portfolio_snapshots",
    "reporting.performance_reports",
    "api.backtest_status",
    "api.import_jobs",
    "api.outbox",
    "ingest.outbox",
    "engine.outbox",
    "reporting.outbox",
)
ALL_TOPICS = (*topics.ALL_TOPICS, *(topics.dlq(t) for t in topics.ALL_TOPICS))


class World:
    def __init__(self, stack: LiveStack) -> None:
        self.stack = stack
        self.user = uuid.uuid4()
        self.jobs: list[uuid.UUID] = []
        self.backtests = [backtest_event(self.user, [TRADED]), backtest_event(self.user, ["NONE.NASDAQ"])]

    async def upload(self, key: str, instrument: str, path: Path) -> uuid.UUID:
        async with httpx.AsyncClient(
            base_url=self.stack.stack.settings.api_url + "/api/v1",
            timeout=30,
            headers={"Authorization": f"Bearer {key}"},
        ) as http:
            form = {"instrument_id": instrument, "timeframe": "BAR_DAILY"}
            response = await http.post("/market-data/import", data=form, files={"file": (path.name, path.read_bytes())})
        assert response.status_code == 202, response.text
        return uuid.UUID(response.json()["job_id"])

    async def run_once(self, folder: Path) -> None:
        stack = self.stack
        await load_daily_symbols(
            stack.database_url,
            folder,
            (TRADED.split(".")[0], BROKEN.split(".")[0], "SPY"),
            start="2020-01-01",
            end="2020-12-31",
        )
        await load_daily_symbols(
            stack.database_url, folder, (UPLOADED.split(".")[0],), start="2020-01-01", end="2020-01-31"
        )  # registered, with a month of bars the upload extends
        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
        try:
            key = (await new_key_for(conn, "duplicates", admin=True)).api_key  # admin: the instruments have no owner
        finally:
            await conn.close()
        good, bad = folder / "good.csv", folder / "bad.csv"
        write_daily_csv(good, seed=3, start="2020-01-01", end="2020-12-31")
        write_daily_csv(bad, seed=4, start="2020-01-01", end="2020-03-31")
        lines = bad.read_text().splitlines()
        lines[5] = lines[5].rsplit(",", 1)[0] + ",-5"  # a negative volume: a strict import fails whole
        bad.write_text("\n".join(lines) + "\n")
        self.jobs = [await self.upload(key, UPLOADED, good), await self.upload(key, BROKEN, bad)]
        await register_owners(stack.database_url, [event.data for event in self.backtests])
        await stack.send([message(event, str(self.user)) for event in self.backtests])

        async def finished() -> bool:
            jobs = await stack.fetch("SELECT status FROM api.import_jobs WHERE id = ANY($1::uuid[])", self.jobs)
            runs = await stack.fetch(
                "SELECT status FROM api.backtest_status WHERE id = ANY($1::uuid[])",
                [e.data.backtest_id for e in self.backtests],
            )
            reports = await stack.fetchval("SELECT count(*) FROM reporting.performance_reports")
            return (
                sorted(r["status"] for r in jobs) == ["COMPLETED", "FAILED"]
                and sorted(r["status"] for r in runs) == ["COMPLETED", "FAILED"]
                and reports == 5
            )

        await until(finished, "the first delivery's work", within=180)
        await stack.wait_settled(within=120)

    async def state(self) -> dict[str, Any]:
        """Every owned table (row count and a digest of its rows), every report file, events per topic."""
        snapshot: dict[str, Any] = {}
        for table in TABLES:
            row = (
                await self.stack.fetch(
                    f"SELECT count(*) AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest "
                    f"FROM {table} t"
                )
            )[0]
            snapshot[table] = (row["n"], row["digest"])
        for record in await self.stack.fetch("SELECT file_path FROM reporting.performance_reports"):
            snapshot[record["file_path"]] = file_digest(Path(record["file_path"]))  # content and mtime
        for topic in ALL_TOPICS:
            snapshot[f"events on {topic}"] = await self.stack.high_watermark(topic)
        return snapshot

    async def everything_on(self, topic: str) -> list[tuple[bytes, str | None]]:
        """Every record ever written to `topic`: its exact bytes and key."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.stack.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
        )
        await consumer.start()
        found: list[tuple[bytes, str | None]] = []
        try:
            tps = [TopicPartition(topic, p) for p in range(topics.PARTITIONS[topic])]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            empty = 0
            while empty < 3:
                batch = await consumer.getmany(timeout_ms=300)
                records = [r for rs in batch.values() for r in rs]
                empty = 0 if records else empty + 1
                found += [(r.value or b"", r.key.decode() if r.key else None) for r in records]
        finally:
            await consumer.stop()
        return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, dict[str, Any]]]:
    with live_stack(tmp_path_factory.mktemp("duplicates-state")) as stack:
        run = World(stack)
        asyncio.run(run.run_once(tmp_path_factory.mktemp("duplicates-data")))
        yield run, asyncio.run(run.state())


def _changed(before: dict[str, Any], after: dict[str, Any], resent: dict[str, int]) -> dict[str, Any]:
    expected = {
        k: v + resent.get(k.removeprefix("events on "), 0) if k.startswith("events on ") else v
        for k, v in before.items()
    }
    return {
        k: (expected.get(k), after.get(k)) for k in expected.keys() | after.keys() if expected.get(k) != after.get(k)
    }


def test_the_first_delivery_did_the_work(world: tuple[World, dict[str, Any]]) -> None:
    _, before = world
    for topic in CONSUMERS:  # every consumed event type was delivered, so the next tests cover each
        assert before[f"events on {topic}"] > 0, topic
    assert all(before[f"events on {topics.dlq(t)}"] == 0 for t in topics.ALL_TOPICS)


def test_every_event_delivered_again_changes_nothing(world: tuple[World, dict[str, Any]]) -> None:
    run, before = world

    async def deliver_again() -> dict[str, int]:
        resent: dict[str, int] = {}
        for topic in CONSUMERS:
            records = await run.everything_on(topic)
            sent = await run.stack.send([(topic, value, key) for value, key in records])
            await run.stack.wait_handled(sent)
            resent[topic] = len(sent)
        await run.stack.wait_settled()
        return resent

    resent = asyncio.run(deliver_again())
    assert _changed(before, asyncio.run(run.state()), resent) == {}
    run.stack.assert_services_alive()


def test_the_same_request_in_a_new_envelope_changes_nothing(world: tuple[World, dict[str, Any]]) -> None:
    run, baseline = world

    async def send_again() -> dict[str, int]:
        requests = []
        for topic in (topics.INGEST_REQUESTED, topics.BACKTEST_REQUESTED):
            for value, key in await run.everything_on(topic):
                event = parse_event(topic, value)
                renewed = event.model_copy(update={"id": uuid.uuid4(), "correlation_id": str(uuid.uuid4())})
                assert key is not None
                requests.append(message(renewed, key))
        assert len(requests) >= 4  # two uploads, two backtests (and the copies the previous test sent)
        sent = await run.stack.send(requests)
        await run.stack.wait_handled(sent)
        await run.stack.wait_settled()
        return {t: sum(1 for r in requests if r[0] == t) for t in (topics.INGEST_REQUESTED, topics.BACKTEST_REQUESTED)}

    now = asyncio.run(run.state())  # events on topics as they are now; everything else as after the first delivery
    before = {k: v if k.startswith("events on ") else baseline[k] for k, v in now.items()}
    resent = asyncio.run(send_again())
    assert _changed(before, asyncio.run(run.state()), resent) == {}
