"""The failed-authentication limit per client: a sliding window on an injected clock (no sleeping)."""

from __future__ import annotations

import pytest

from services.api.domain.auth_failures import AuthFailures, FailureLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_client_is_held_back_once_it_reaches_the_limit_within_the_window(clock: Clock) -> None:
    failures = AuthFailures(FailureLimit(max_failures=3, window_s=60), clock)
    for _ in range(2):
        failures.record("10.0.0.1")
        clock.now += 1
    assert failures.retry_after("10.0.0.1") is None  # 2 of 3: still allowed to fail
    failures.record("10.0.0.1")  # the third, at t=1002
    assert failures.retry_after("10.0.0.1") == pytest.approx(58.0)  # until the first one (t=1000) is 60 s old
    assert failures.retry_after("10.0.0.2") is None  # other clients are not affected


def test_the_hold_ends_when_old_failures_leave_the_window(clock: Clock) -> None:
    failures = AuthFailures(FailureLimit(max_failures=2, window_s=10), clock)
    failures.record("c")
    clock.now += 5
    failures.record("c")
    assert failures.retry_after("c") == pytest.approx(5.0)
    clock.now += 5  # the first failure is exactly 10 s old: out of the window
    assert failures.retry_after("c") is None
    failures.record("c")  # one more keeps it just at the limit again
    assert failures.retry_after("c") == pytest.approx(5.0)
    clock.now += 60
    assert failures.retry_after("c") is None
    assert failures._failures == {}  # forgotten entirely once nothing is recent


def test_failures_spread_wider_than_the_window_never_hold_a_client_back(clock: Clock) -> None:
    failures = AuthFailures(FailureLimit(max_failures=3, window_s=60), clock)
    for _ in range(100):
        failures.record("slow")
        assert failures.retry_after("slow") is None
        clock.now += 30.1  # at most 2 in any 60 s


def test_memory_is_bounded_per_client_and_in_clients(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.api.domain.auth_failures.MAX_CLIENTS", 3)
    failures = AuthFailures(FailureLimit(max_failures=5, window_s=60), clock)
    for _ in range(50):
        failures.record("noisy")
    assert len(failures._failures["noisy"]) == 5  # only the last max_failures are kept
    for client in ("a", "b", "c"):
        failures.record(client)
    assert set(failures._failures) == {"a", "b", "c"}  # the oldest client made room
