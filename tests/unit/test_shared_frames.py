"""What runs derive from the bar frames they share (a sweep's): made once per frame and purpose, forgotten with
the frame, and the runs' fills the same as when each makes its own."""

from __future__ import annotations

import gc
from dataclasses import replace

import pandas as pd
import pytest

from services.engine.domain import runner, shared_frames
from services.engine.domain.runner import run_backtest
from tests.unit.test_engine_domain import _bars, _run


def test_a_derived_value_is_made_once_per_frame_and_purpose_and_forgotten_with_the_frame() -> None:
    frame = pd.DataFrame({"close": [1.0, 2.0]})
    made: list[str] = []

    def make(purpose: str) -> str:
        made.append(purpose)
        return f"{purpose} made"

    first = shared_frames.derived(frame, "a", lambda: make("a"))
    assert shared_frames.derived(frame, "a", lambda: make("a")) is first
    shared_frames.derived(frame, "b", lambda: make("b"))
    other = frame.copy()  # another frame object: its own
    shared_frames.derived(other, "a", lambda: make("a"))
    assert made == ["a", "b", "a"]
    # by key, not by count: other tests' frames may be collected by the same collection
    keys = {(id(frame), "a"), (id(frame), "b")}
    assert keys <= shared_frames._DERIVED.keys()
    del frame
    gc.collect()
    assert not keys & shared_frames._DERIVED.keys()
    assert (id(other), "a") in shared_frames._DERIVED


def test_runs_that_share_their_frames_make_the_same_fills_as_runs_on_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    bars = {"AAA.NASDAQ": _bars(11), "BBB.NASDAQ": _bars(12)}
    prepared: list[str] = []
    original = runner.nautilus_bars

    def counting(frame: pd.DataFrame, spec: runner.InstrumentSpec, *rest: object) -> object:
        prepared.append(spec.id)
        return original(frame, spec, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "nautilus_bars", counting)
    for params in ({"fast_period": 5, "slow_period": 20}, {"fast_period": 8, "slow_period": 30}):
        request, alone = _run("SMA_CROSSOVER", params, bars={k: v.copy() for k, v in bars.items()})
        shared = run_backtest(replace(request, bars=bars, bars_shared=True))
        assert shared.fills == alone.fills  # type: ignore[attr-defined]
        assert shared.fills
        assert shared.closes.equals(alone.closes)  # type: ignore[attr-defined]
    # each alone run prepared both instruments; the shared runs prepared them once between them
    assert prepared.count("AAA.NASDAQ") == 3
    assert prepared.count("BBB.NASDAQ") == 3
