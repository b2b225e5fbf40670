"""Progress of a run: bars seen mapped onto the run phase, and the time left from the observed rate."""

from __future__ import annotations

import pytest

from services.engine.domain.progress import LOADED, RAN, MonotonicProgress, RateMeter, RunTracker, run_estimate


def test_progress_maps_bars_seen_onto_the_run_phase() -> None:
    assert run_estimate(0, 1000, None).progress_pct == LOADED
    assert run_estimate(500, 1000, None).progress_pct == (LOADED + RAN) / 2
    assert run_estimate(1000, 1000, 100.0).progress_pct == RAN
    assert run_estimate(10, 0, None) == run_estimate(0, 0, 5.0)  # nothing fed yet: no estimate


def test_time_left_is_the_rest_of_the_run_plus_the_work_after_it() -> None:
    estimate = run_estimate(400, 1000, 100.0)  # 6 s of bars left; the whole run 10 s, the work after 10/80 of it
    assert estimate.seconds_left == pytest.approx(6.0 + 10.0 * (100 - RAN) / (RAN - LOADED))
    assert run_estimate(400, 1000, None).seconds_left is None


def test_rate_is_measured_from_the_first_sample_that_saw_bars() -> None:
    meter = RateMeter()
    assert meter(10.0, 0) is None  # the engine is still being set up
    assert meter(11.0, 1000) is None  # first bars: no interval yet
    assert meter(13.0, 5000) == pytest.approx(2000.0)


def test_reported_progress_never_goes_back() -> None:
    monotonic = MonotonicProgress()
    assert [monotonic(p) for p in (0, 10, 40, 35, 90, 120)] == [0, 10, 40, 40, 90, 100]


def test_tracker_reads_the_strategys_counter() -> None:
    class Counter:
        bars_seen = 0

    tracker, counter = RunTracker(), Counter()
    assert tracker.bars_done == 0
    tracker.attach(counter, 50)
    counter.bars_seen = 7
    assert (tracker.bars_done, tracker.bars_total) == (7, 50)
