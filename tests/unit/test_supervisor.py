"""The supervisor's bookkeeping: backoff grows with crashes in the window, and the n-th crash stops the stack."""

from __future__ import annotations

from bts.supervisor import MAX_BACKOFF_S, CrashHistory, CrashPolicy


def test_backoff_doubles_and_the_fifth_crash_in_the_window_stops_the_stack() -> None:
    history = CrashHistory(CrashPolicy(max_crashes=5, window_s=60.0, backoff_s=0.5))
    delays = [history.record("engine", now).restart_in_s for now in (0.0, 1.0, 2.0, 3.0)]
    assert delays == [0.5, 1.0, 2.0, 4.0]
    verdict = history.record("engine", 4.0)
    assert verdict.restart_in_s is None
    assert verdict.crashes == 5


def test_crashes_outside_the_window_are_forgotten_and_services_are_counted_apart() -> None:
    history = CrashHistory(CrashPolicy(max_crashes=2, window_s=60.0, backoff_s=1.0))
    assert history.record("engine", 0.0).restart_in_s == 1.0
    assert history.record("ingest", 10.0).restart_in_s == 1.0  # another service: its own count
    assert history.record("engine", 61.0).restart_in_s == 1.0  # the first crash left the window
    assert history.record("engine", 62.0).restart_in_s is None


def test_backoff_is_capped() -> None:
    history = CrashHistory(CrashPolicy(max_crashes=100, window_s=1e9, backoff_s=1.0))
    delays = [history.record("api", float(n)).restart_in_s for n in range(20)]
    assert max(d for d in delays if d is not None) == MAX_BACKOFF_S
