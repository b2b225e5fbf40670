"""Poison messages on every consumed topic: each lands in `<topic>.dlq` once per consuming group, with its
error; the consumers go on (good work published after the poison, on the same partitions, is handled);
nothing else is lost or dead-lettered.

An unknown instrument is not poison: the message is well formed and names something that does not
exist, which is a handled outcome with a reason a person can act on. An ingest.requested for one is
answered with ingest.failed ("unknown instrument ..."); a backtest.requested for one becomes a FAILED
result ("the request was refused: instrument_ids.0: unknown instrument ...") announced on backtest.failed,
which reporting and the gateway then handle like any other failed backtest. Neither goes to a dead-letter
topic.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.contracts import topics
from shared.contracts.events import parse_event
from shared.platform.kafka.consumer import MAX_MESSAGE_BYTES
from shared.platform.kafka.dlq import DeadLetter
from tests.faults.stack_control import (
    CONSUMERS,
    LiveStack,
    Sent,
    backtest_event,
    ingest_event,
    live_stack,
    message,
    register_instrument,
)
from tests.integration.market import load_daily_symbols, register_owners, write_daily_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

TRADED, UPLOADED, UNKNOWN = "PSA.NASDAQ", "PSI.NASDAQ", "NOPE.NASDAQ"
HUGE_BYTES = MAX_MESSAGE_BYTES + 20_000  # over the consumer's limit, under the producer's 1 MiB


def _envelope(topic: str, data: dict[str, Any], envelope_type: str | None = None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": envelope_type or topic,
        "source": "test/poison",
        "time": datetime.now(UTC).isoformat(),
        "subject": None,
        "correlation_id": str(uuid.uuid4()),
        "schema_version": 1,
        "data": data,
    }


# kind -> (message for a topic, what its dead letter's error must say)
POISONS: dict[str, tuple[Any, str]] = {
    "not JSON": (lambda topic: b"\xff\xfe{not json", "message is not JSON"),
    "wrong schema": (
        lambda topic: json.dumps(_envelope(topic, {"backtest_id": "not-a-uuid", "job_id": 7})).encode(),
        "validation error",
    ),
    "wrong envelope type": (
        lambda topic: json.dumps(_envelope(topic, {}, envelope_type=topics.REPORT_GENERATED)).encode(),
        f"envelope type '{topics.REPORT_GENERATED}' does not match topic",
    ),
    "huge payload": (
        lambda topic: json.dumps(_envelope(topic, {"padding": "x" * HUGE_BYTES})).encode(),
        f"over the {MAX_MESSAGE_BYTES}-byte limit",
    ),
}


class Scenario:
    def __init__(self, stack: LiveStack) -> None:
        self.stack = stack
        self.user = uuid.uuid4()
        self.poisons: dict[tuple[str, str], Sent] = {}  # (topic, kind) -> where it landed
        self.values: dict[tuple[str, str], bytes] = {}  # (topic, kind) -> what was sent
        self.good_backtest = backtest_event(self.user, [TRADED])
        self.unknown_backtest = backtest_event(self.user, [UNKNOWN])
        uploads = stack.state_dir / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        self.csv = uploads / "psi.csv"
        write_daily_csv(self.csv, seed=7, start="2020-01-01", end="2020-06-30")
        self.good_ingest = ingest_event(UPLOADED, self.csv)
        self.unknown_ingest = ingest_event(UNKNOWN, self.csv)

    def key_of(self, topic: str) -> str:
        """The key the good events of `topic` will carry, so the poison sits before them on their partition."""
        if topic.startswith("backtest."):
            return str(self.user)
        if topic == topics.INGEST_FAILED:
            return UNKNOWN
        return UPLOADED

    async def run(self, folder: Path) -> None:
        await load_daily_symbols(self.stack.database_url, folder, ("PSA", "SPY"), start="2020-01-01", end="2020-12-31")
        await register_instrument(self.stack.database_url, UPLOADED)
        await register_owners(self.stack.database_url, [self.good_backtest.data, self.unknown_backtest.data])
        poisons = [(topic, kind) for topic in CONSUMERS for kind in POISONS]
        self.values = {(t, k): POISONS[k][0](t) for t, k in poisons}
        sent = await self.stack.send([(t, self.values[(t, k)], self.key_of(t)) for t, k in poisons])
        self.poisons = dict(zip(poisons, sent, strict=True))
        # good work behind the poison: requests here, and the events they cause on the other topics
        good = await self.stack.send(
            [
                message(self.good_ingest, UPLOADED),
                message(self.unknown_ingest, UNKNOWN),
                message(self.good_backtest, str(self.user)),
                message(self.unknown_backtest, str(self.user)),
            ]
        )
        await self.stack.wait_handled(good, within=180)
        await self.stack.wait_settled(within=180)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    with live_stack(tmp_path_factory.mktemp("poison-state")) as stack:
        run = Scenario(stack)
        asyncio.run(run.run(tmp_path_factory.mktemp("poison-data")))
        yield run


@pytest.mark.parametrize("topic", list(CONSUMERS))
def test_each_poison_is_dead_lettered_once_per_consumer_with_its_error(scenario: Scenario, topic: str) -> None:
    letters = asyncio.run(scenario.stack.dead_letters(topic))
    by_group: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        by_group.setdefault(letter.consumer_group, []).append(letter)
    assert set(by_group) == set(CONSUMERS[topic])
    for group, found in by_group.items():
        assert len(found) == len(POISONS), f"{group}: {[(x.offset, x.error[:80]) for x in found]}"
        for kind, (_, expected_error) in POISONS.items():
            sent = scenario.poisons[(topic, kind)]
            match = [x for x in found if (x.partition, x.offset) == (sent.partition, sent.offset)]
            assert len(match) == 1, f"{group}: no single dead letter for the {kind} at {sent}"
            letter = match[0]
            assert expected_error in letter.error, f"{group}, {kind}: {letter.error[:300]}"
            assert (letter.topic, letter.key, letter.attempts) == (topic, sent.key, 0)
            if kind == "huge payload":  # kept as a prefix with its size: the letter itself must fit in Kafka
                assert letter.truncated
                assert letter.value_bytes > MAX_MESSAGE_BYTES
                assert 0 < len(letter.value) < letter.value_bytes
            else:  # kept whole, so it can be replayed after a fix
                assert not letter.truncated
                assert letter.value == scenario.values[(topic, kind)]


def test_good_work_behind_the_poison_is_handled(scenario: Scenario) -> None:
    stack = scenario.stack
    good, unknown = scenario.good_backtest.data.backtest_id, scenario.unknown_backtest.data.backtest_id

    async def check() -> None:
        bars = await stack.fetchval("SELECT count(*) FROM ingest.market_data WHERE instrument_id = $1", UPLOADED)
        assert bars == sum(1 for _ in scenario.csv.open()) - 1  # every row of the upload
        results = {
            r["id"]: r
            for r in await stack.fetch(
                "SELECT id, status, error_message, trades_count FROM engine.backtest_results "
                "WHERE id = ANY($1::uuid[])",
                [good, unknown],
            )
        }
        assert results[good]["status"] == "COMPLETED"
        assert results[good]["trades_count"] > 0
        reports = await stack.fetch(
            "SELECT backtest_result_id, report_type FROM reporting.performance_reports "
            "WHERE backtest_result_id = ANY($1::uuid[])",
            [good, unknown],
        )
        assert sorted(r["report_type"] for r in reports if r["backtest_result_id"] == good) == [
            "CSV",
            "CSV",
            "HTML",
            "JSON",
        ]
        assert [r["report_type"] for r in reports if r["backtest_result_id"] == unknown] == ["HTML"]
        status = {
            r["id"]: r["status"]
            for r in await stack.fetch(
                "SELECT id, status FROM api.backtest_status WHERE id = ANY($1::uuid[])", [good, unknown]
            )
        }
        assert status == {good: "COMPLETED", unknown: "FAILED"}
        assert all(n == 0 for n in (await stack.unpublished_outbox()).values())

    asyncio.run(check())
    scenario.stack.assert_services_alive()


def test_an_unknown_instrument_is_a_handled_failure_not_a_dead_letter(scenario: Scenario) -> None:
    stack = scenario.stack
    unknown = scenario.unknown_backtest.data.backtest_id

    async def check() -> None:
        row = (await stack.fetch("SELECT status, error_message FROM engine.backtest_results WHERE id = $1", unknown))[0]
        assert row["status"] == "FAILED"
        assert row["error_message"] == f"the request was refused: instrument_ids.0: unknown instrument {UNKNOWN}"
        failed = await stack.fetchval(
            "SELECT payload FROM ingest.outbox WHERE topic = $1 AND payload->'data'->>'job_id' = $2",
            topics.INGEST_FAILED,
            str(scenario.unknown_ingest.data.job_id),
        )
        event = parse_event(topics.INGEST_FAILED, failed)
        assert event.data.error.startswith(f"unknown instrument {UNKNOWN}")
        assert event.correlation_id == scenario.unknown_ingest.correlation_id
        for topic in (topics.INGEST_REQUESTED, topics.BACKTEST_REQUESTED, topics.BACKTEST_FAILED):
            letters = await stack.dead_letters(topic)
            poison_offsets = {(s.partition, s.offset) for (t, _), s in scenario.poisons.items() if t == topic}
            assert {(x.partition, x.offset) for x in letters} == poison_offsets  # nothing but the poison

    asyncio.run(check())
