"""Lifecycle rules (delete, cancel, clone), short ids and paged lists: the pure logic, no database."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from bts.ids import page_note
from services.api.domain import lifecycle as rules
from services.api.domain.listing import Filter, prefix_like
from services.api.pagination import day_start
from services.api.repository.listing import where
from services.engine.cancellation import cancel_checked
from services.engine.domain.errors import RunCancelled
from services.engine.domain.progress import RunTracker
from services.engine.domain.runner import RunInput, run_backtest
from services.engine.run_progress import run_with_progress
from shared.contracts.models.backtest import CANCELLED_BY_USER
from shared.domain.id_prefix import Ambiguous, NoMatch, TooShort, full_id, unique_match
from tests.unit.test_engine_domain import PER_SHARE, _bars, _spec

A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def test_only_finished_backtests_outside_sweeps_can_be_deleted() -> None:
    assert rules.backtest_delete_refusal(A, "COMPLETED", None) is None
    assert rules.backtest_delete_refusal(A, "FAILED", None) is None
    running = rules.backtest_delete_refusal(A, "RUNNING", None)
    assert running is not None
    assert f"POST /backtests/{A}/cancel" in running
    child = rules.backtest_delete_refusal(A, "COMPLETED", B)
    assert child is not None
    assert f"DELETE /sweeps/{B}" in child


def test_only_unfinished_backtests_and_sweeps_can_be_cancelled() -> None:
    assert rules.backtest_cancel_refusal(A, "PENDING") is None
    assert rules.backtest_cancel_refusal(A, "RUNNING") is None
    assert "COMPLETED already" in (rules.backtest_cancel_refusal(A, "COMPLETED") or "")
    assert rules.sweep_cancel_refusal(A, "RUNNING", cancelled=False) is None
    assert "being cancelled" in (rules.sweep_cancel_refusal(A, "RUNNING", cancelled=True) or "")
    assert rules.sweep_delete_refusal(A, "RUNNING") is not None
    assert rules.sweep_delete_refusal(A, "COMPLETED") is None


def test_a_strategy_in_use_is_refused_naming_what_uses_it() -> None:
    assert rules.strategy_delete_refusal(A, [], []) is None
    refusal = rules.strategy_delete_refusal(A, [B, C], [A])
    assert refusal is not None
    assert f"2 backtest(s): {B}, {C}" in refusal
    assert f"1 sweep(s): {A}" in refusal
    many = [uuid.UUID(int=n) for n in range(25)]
    long = rules.strategy_delete_refusal(A, many, []) or ""
    assert "25 backtest(s)" in long
    assert "and 15 more" in long
    assert str(many[10]) not in long


def test_a_clone_gets_the_first_free_copy_name_within_the_length_limit() -> None:
    assert rules.clone_name("sma", set()) == "sma (copy)"
    assert rules.clone_name("sma", {"sma (copy)", "sma (copy 2)"}) == "sma (copy 3)"
    long = rules.clone_name("x" * 100, set())
    assert len(long) == rules.NAME_MAX
    assert long.endswith(" (copy)")


def test_a_unique_prefix_names_one_id_and_an_ambiguous_one_names_the_candidates() -> None:
    ids = ["0123abcd-0000-0000-0000-000000000001", "0123abcd-0000-0000-0000-000000000002", "89abcdef-1111"]
    assert unique_match("backtest", "89ABCDEF", ids) == "89abcdef-1111"
    with pytest.raises(Ambiguous) as ambiguous:
        unique_match("backtest", "0123abcd", ids)
    assert ids[0] in str(ambiguous.value)
    assert ids[1] in str(ambiguous.value)
    with pytest.raises(NoMatch, match="no backtest of yours"):
        unique_match("backtest", "ffffffff", ids)
    with pytest.raises(TooShort, match="at least 8"):
        unique_match("backtest", "0123abc", ids)
    with pytest.raises(TooShort):
        unique_match("backtest", "0123abcz", ids)
    counted = Ambiguous("sweep", "01234567", [f"01234567-{n}" for n in range(11)], total=40)
    assert "and 30 more" in str(counted)
    assert full_id(str(A).upper()) == str(A)
    assert full_id("0123abcd") is None


def test_filters_without_a_value_are_left_out_and_the_rest_numbered_in_order() -> None:
    clause, args = where(
        [Filter("user_id = ?", A), Filter("status = ?", None), Filter("? = ANY(instrument_ids)", "X.NASDAQ")]
    )
    assert clause == "user_id = $1 AND $2 = ANY(instrument_ids)"
    assert args == [A, "X.NASDAQ"]
    assert where([Filter("status = ?", None)]) == ("true", [])
    assert prefix_like("0123ABCD") == "0123abcd%"
    assert prefix_like(None) is None


def test_date_filters_include_the_whole_until_day() -> None:
    assert day_start(date(2024, 3, 1)) == datetime(2024, 3, 1, tzinfo=UTC)
    assert day_start(date(2024, 2, 29), 1) == datetime(2024, 3, 1, tzinfo=UTC)
    assert day_start(None) is None


def test_the_cli_says_when_a_page_is_not_the_whole_list() -> None:
    assert page_note({"items": [1, 2], "total": 2, "limit": 50, "offset": 0}) is None
    assert page_note({"items": [1, 2], "total": 5, "limit": 2, "offset": 0}) == "showing 1-2 of 5 (--offset 2 for more)"
    assert page_note({"items": [5], "total": 5, "limit": 2, "offset": 4}) == "showing 5-5 of 5"


class _Counter:
    def __init__(self) -> None:
        self.bars_seen = 0
        self.stop_requested = False


def test_a_cancel_before_the_strategy_is_attached_reaches_it_on_attach() -> None:
    tracker, counter = RunTracker(), _Counter()
    tracker.cancel()
    tracker.attach(counter, 100)
    assert counter.stop_requested


def test_a_run_whose_cancel_check_answers_yes_is_told_to_stop() -> None:
    """The work runs in a thread and stops only when told (a bar loop checking stop_requested)."""

    def work(tracker: RunTracker) -> str:
        counter = _Counter()
        tracker.attach(counter, 1_000_000)
        for _ in range(50_000):  # at most ~50 s: a guard against a hang if cancelling is broken
            if counter.stop_requested:
                return "stopped"
            counter.bars_seen += 1
            time.sleep(0.001)
        return "never stopped"

    async def cancelled() -> bool:
        return True

    async def report(pct: float, eta: datetime | None) -> None:
        return None

    async def run() -> str:
        with cancel_checked(cancelled):
            return await run_with_progress(work, report, every_s=0.01)

    assert asyncio.run(run()) == "stopped"


def test_a_cancelled_nautilus_run_raises_run_cancelled_with_the_users_message() -> None:
    request = RunInput(
        strategy_type="SMA_CROSSOVER",
        parameters={"fast_period": 5, "slow_period": 20},
        instruments=[_spec("AAA.NASDAQ")],
        bars={"AAA.NASDAQ": _bars(1, days=100)},
        timeframe="BAR_DAILY",
        initial_capital=Decimal(100_000),
        position_size_pct=Decimal(5),
        commission_kind="PER_SHARE",
        commission_params=PER_SHARE,
        slippage_ticks=1,
    )
    tracker = RunTracker()
    tracker.cancel()
    with pytest.raises(RunCancelled) as stopped:
        run_backtest(request, tracker)
    assert str(stopped.value) == CANCELLED_BY_USER
