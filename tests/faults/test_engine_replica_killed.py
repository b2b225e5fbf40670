"""Fault: the engine replica running a request is killed (SIGKILL) mid-run. The other replica of the group
redoes it: one result row, COMPLETED, one backtest.completed, no duplicate trades or snapshots, and the
same trades as an undisturbed run of the same request."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.engine.backtest_job import run_job
from services.engine.handlers import job_from_request
from services.engine.job import BacktestJob
from shared.contracts import topics
from shared.contracts.events import parse_event
from shared.devstack.stack import Endpoints
from shared.platform.db.urls import asyncpg_dsn, role_url
from shared.platform.kafka.admin import ensure_topics
from tests.integration.conftest import publish, wait_for_events
from tests.integration.engine_replicas import EngineReplica, request_event, users_covering_every_partition
from tests.integration.market import FX_PAIR, load_daily_symbols, load_minute_fx, register_owners

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

FX_BARS = 150_000  # a run of many seconds: time to see it running, kill it, and have it redone
FX_COSTS = {"type": "PERCENT", "percent": "0.002", "minimum": "2.00", "slippage_ticks": 1}


@pytest.fixture(scope="module")
def replicas(migrated: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[EngineReplica]]:
    folder = tmp_path_factory.mktemp("replicas")
    asyncio.run(ensure_topics(migrated.kafka_bootstrap))
    started = [EngineReplica(migrated.database_url, migrated.kafka_bootstrap, folder, f"engine-{n}") for n in (1, 2)]
    try:
        for replica in started:
            replica.wait_ready()
        yield started
    finally:
        for replica in started:
            replica.stop()


def _until(condition: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


async def _row(admin_url: str, backtest_id: uuid.UUID) -> asyncpg.Record | None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        return await conn.fetchrow(
            "SELECT status, progress_pct FROM engine.backtest_results WHERE id = $1", backtest_id
        )
    finally:
        await conn.close()


async def _count_events(bootstrap: str, topic: str, subject: str) -> int:
    """Events about `subject` on `topic`, reading every partition to its end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(topics.PARTITIONS[topic])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        count, quiet = 0, 0
        while quiet < 4:  # four empty polls in a row: the end of every partition
            batches = await consumer.getmany(timeout_ms=500)
            quiet = 0 if batches else quiet + 1
            for records in batches.values():
                count += sum(1 for r in records if parse_event(topic, r.value or b"").subject == subject)
        return count
    finally:
        await consumer.stop()


def test_killed_replicas_request_is_redone_by_the_other_exactly_once(
    migrated: Endpoints, replicas: list[EngineReplica], tmp_path: Path
) -> None:
    url, bootstrap = migrated.database_url, migrated.kafka_bootstrap
    asyncio.run(load_daily_symbols(url, tmp_path, ("FLTA", "SPY")))
    last_bar = asyncio.run(load_minute_fx(url, tmp_path, FX_BARS))
    # Warm-up: one short request per partition; both replicas answering means both hold partitions.
    sma = {"fast_period": 5, "slow_period": 20}
    warm = [
        request_event(u, ["FLTA.NASDAQ"], date(2020, 1, 1), date(2021, 12, 31), sma)
        for u in users_covering_every_partition(6)
    ]
    asyncio.run(register_owners(url, [e.data for e in warm]))
    asyncio.run(publish(bootstrap, [(e, str(e.data.user_id)) for e in warm]))
    warm_ids = {str(e.data.backtest_id) for e in warm}
    asyncio.run(wait_for_events(bootstrap, topics.BACKTEST_COMPLETED, warm_ids, within=180))
    assert all(r.backtests("backtest finished") & warm_ids for r in replicas), "a replica got no partition"

    event = request_event(
        users_covering_every_partition(7, seed=1)[6],
        [FX_PAIR],
        date(2022, 1, 3),
        last_bar.date(),
        {"fast_period": 10, "slow_period": 30},
        timeframe="BAR_1MIN",
        commission_model=FX_COSTS,
        position_size_pct=Decimal(5),
    )
    backtest_id = event.data.backtest_id
    asyncio.run(register_owners(url, [event.data]))
    asyncio.run(publish(bootstrap, [(event, str(event.data.user_id))]))
    _until(lambda: any(str(backtest_id) in r.backtests("backtest started") for r in replicas), 60, "the run")
    victim = next(r for r in replicas if str(backtest_id) in r.backtests("backtest started"))
    survivor = next(r for r in replicas if r is not victim)

    def running_in_nautilus() -> bool:
        row = asyncio.run(_row(url, backtest_id))
        return (
            row is not None and row["status"] == "RUNNING" and row["progress_pct"] >= 10
        )  # bars loaded, handed to Nautilus

    _until(running_in_nautilus, 120, "Nautilus to be running the request")
    victim.kill()
    assert asyncio.run(_row(url, backtest_id))["status"] == "RUNNING"  # type: ignore[index]

    asyncio.run(wait_for_events(bootstrap, topics.BACKTEST_COMPLETED, {str(backtest_id)}, within=240))
    takeovers = [r for r in survivor.records("backtest started") if r["backtest_id"] == str(backtest_id)]
    assert [r["taken_over"] for r in takeovers] == [True]  # found RUNNING with its replica gone, ran it once
    # The survivor logs the end after its commit, which the event may outrun (its relay wakes at the commit).
    _until(lambda: str(backtest_id) in survivor.backtests("backtest finished"), 30, "the survivor to log the end")
    assert asyncio.run(_count_events(bootstrap, topics.BACKTEST_COMPLETED, str(backtest_id))) == 1

    # An undisturbed run of the same request, in this process: the redo must equal it.
    reference = job_from_request(event.data)
    reference = BacktestJob(**{**reference.__dict__, "backtest_id": uuid.uuid4(), "configuration_id": uuid.uuid4()})
    redone, undisturbed = asyncio.run(_compare(url, backtest_id, reference))
    assert redone["results"] == 1
    assert redone["status"] == "COMPLETED"
    assert redone["trades"] == undisturbed["trades"]
    assert redone["trades_count"] == len(redone["trades"]) > 0
    assert redone["snapshots"] == undisturbed["snapshots"]
    assert redone["metrics"] == undisturbed["metrics"]
    assert redone["daily"] == len(set(redone["days"]))  # one DAILY snapshot per session, none twice


async def _compare(url: str, backtest_id: uuid.UUID, reference: BacktestJob) -> tuple[dict[str, object], ...]:
    pool = await asyncpg.create_pool(role_url(url, "engine", "bts"), min_size=1, max_size=4)
    try:
        assert (await run_job(pool, reference)).status == "COMPLETED"
        found = []
        async with pool.acquire() as conn:
            for result_id in (backtest_id, reference.backtest_id):
                found.append(
                    {
                        "results": await conn.fetchval(
                            "SELECT count(*) FROM engine.backtest_results WHERE id = $1", result_id
                        ),
                        "status": await conn.fetchval(
                            "SELECT status FROM engine.backtest_results WHERE id = $1", result_id
                        ),
                        "trades_count": await conn.fetchval(
                            "SELECT trades_count + open_trades FROM engine.backtest_results WHERE id = $1", result_id
                        ),
                        "metrics": await conn.fetchval(
                            "SELECT metrics::text FROM engine.backtest_results WHERE id = $1", result_id
                        ),
                        "trades": [
                            tuple(r)
                            for r in await conn.fetch(
                                "SELECT instrument_id, side, entry_time, entry_price, exit_time, exit_price, quantity, "
                                "commission, slippage, pnl, pnl_pct FROM engine.trades WHERE backtest_result_id = $1 "
                                "ORDER BY entry_time",
                                result_id,
                            )
                        ],
                        "snapshots": [
                            tuple(r)
                            for r in await conn.fetch(
                                'SELECT "timestamp", seq, kind, cash_balance, total_value, margin_used, buying_power, '
                                "positions::text FROM engine.portfolio_snapshots WHERE backtest_result_id = $1 "
                                'ORDER BY "timestamp", seq',
                                result_id,
                            )
                        ],
                        "daily": await conn.fetchval(
                            "SELECT count(*) FROM engine.portfolio_snapshots WHERE backtest_result_id = $1 "
                            "AND kind = 'DAILY'",
                            result_id,
                        ),
                        "days": [
                            r[0]
                            for r in await conn.fetch(
                                "SELECT (\"timestamp\" - interval '1 microsecond')::date "
                                "FROM engine.portfolio_snapshots "
                                "WHERE backtest_result_id = $1 AND kind = 'DAILY'",
                                result_id,
                            )
                        ],
                    }
                )
        return found[0], found[1]
    finally:
        await pool.close()
