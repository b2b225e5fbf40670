"""Load: 200 backtest.requested from 20 users published straight to Kafka, through one engine service.

Every request completes; each user's backtests ran in the order they were published and never two at
once (backtest.requested is keyed by user: one partition, handled in order); the engine group's lag
returns to zero. Prints the wall time and the peak lag (`pytest -s`); `python -m benchmarks.load` runs
the same scenario with a baseline.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from benchmarks.load import ENGINE_GROUP, LoadReport, prepare, requests, run_load
from shared.contracts.events import BacktestRequested, Envelope
from tests.faults.stack_control import live_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

USERS, PER_USER = 20, 10


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Envelope[BacktestRequested]], LoadReport]]:
    with live_stack(tmp_path_factory.mktemp("load-state"), services=("engine",)) as stack:
        asyncio.run(prepare(stack.database_url, tmp_path_factory.mktemp("load-data")))
        events = requests(USERS, PER_USER)
        report = asyncio.run(run_load(stack.bootstrap, stack.database_url, events, within=840))
        print(
            f"\nload: {report.requests} requests from {USERS} users: wall time {report.wall_s:.1f} s, "
            f"{report.throughput:.2f} backtests/s, peak lag {report.peak_lag} ({ENGINE_GROUP}), "
            f"lag after {report.lag_after}"
        )
        yield events, report


def test_all_complete(load: tuple[list[Envelope[BacktestRequested]], LoadReport]) -> None:
    events, report = load
    assert len(report.results) == len(events) == USERS * PER_USER
    assert {r["status"] for r in report.results} == {"COMPLETED"}


def test_per_user_order_holds_and_runs_never_overlap(
    load: tuple[list[Envelope[BacktestRequested]], LoadReport],
) -> None:
    events, report = load
    rows = {r["id"]: r for r in report.results}
    by_user: dict[object, list[Envelope[BacktestRequested]]] = {}
    for event in events:  # publish order
        by_user.setdefault(event.data.user_id, []).append(event)
    assert len(by_user) == USERS
    for user, published in by_user.items():
        runs = [rows[e.data.backtest_id] for e in published]
        assert all(r["user_id"] == user for r in runs)
        for earlier, later in itertools.pairwise(runs):
            # in publish order, and the next one starts only after the previous one finished
            assert earlier["started_at"] < later["started_at"], (user, earlier["id"], later["id"])
            assert earlier["completed_at"] <= later["started_at"], (user, earlier["id"], later["id"])


def test_lag_rose_and_returned_to_zero(load: tuple[list[Envelope[BacktestRequested]], LoadReport]) -> None:
    _, report = load
    assert report.peak_lag > 0  # the backlog was seen while the engine worked through it
    assert report.lag_after == 0
