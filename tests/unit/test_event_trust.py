"""The gateway takes no backtest status from an event that the engine's table contradicts."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest

from services.api.domain.read_models import contradiction
from shared.contracts import topics
from shared.contracts.events import BacktestFailed, BacktestProgress
from shared.contracts.models import BacktestStatus

ALICE, MALLORY = uuid4(), uuid4()


@dataclass(frozen=True)
class Row:
    user_id: UUID
    status: str
    sweep_id: UUID | None = None


def _failed(user: UUID = ALICE, sweep: UUID | None = None) -> BacktestFailed:
    return BacktestFailed(backtest_id=uuid4(), user_id=user, error_message="forged", sweep_id=sweep)


def test_an_event_about_a_backtest_the_engine_does_not_have_is_ignored() -> None:
    assert contradiction(topics.BACKTEST_FAILED, _failed(), None) == "the engine has no such backtest"


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "COMPLETED"])
def test_a_failed_event_counts_only_when_the_engine_has_the_run_failed(status: str) -> None:
    assert (
        contradiction(topics.BACKTEST_FAILED, _failed(), Row(ALICE, status)) == f"the engine has the backtest {status}"
    )
    assert contradiction(topics.BACKTEST_FAILED, _failed(), Row(ALICE, "FAILED")) is None


def test_another_users_event_and_a_foreign_sweep_are_ignored() -> None:
    assert contradiction(topics.BACKTEST_FAILED, _failed(MALLORY), Row(ALICE, "FAILED")) is not None
    sweep = uuid4()
    assert contradiction(topics.BACKTEST_FAILED, _failed(sweep=uuid4()), Row(ALICE, "FAILED", sweep)) is not None
    assert contradiction(topics.BACKTEST_FAILED, _failed(sweep=sweep), Row(ALICE, "FAILED", sweep)) is None


def test_progress_needs_the_engines_result_of_that_user() -> None:
    progress = BacktestProgress(backtest_id=uuid4(), user_id=ALICE, status=BacktestStatus.RUNNING, progress_pct=50)
    assert contradiction(topics.BACKTEST_PROGRESS, progress, Row(ALICE, "RUNNING")) is None
    assert contradiction(topics.BACKTEST_PROGRESS, progress, Row(MALLORY, "RUNNING")) is not None
