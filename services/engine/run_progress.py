"""Progress while Nautilus runs: the run goes to a worker thread, the event loop samples its bar count.

Every `every_s` seconds the loop reads how many bars the strategy has seen (an int the strategy
increments; nothing else is added per bar), turns it into progress_pct and an estimated completion,
and hands both to `report` (which stores and publishes them). The thread is never waited on
synchronously, so the consumer keeps heart-beating its group.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog

from services.engine.cancellation import CANCEL_CHECK
from services.engine.domain.progress import RateMeter, RunTracker, run_estimate

T = TypeVar("T")
Report = Callable[[float, datetime | None], Awaitable[None]]
log = structlog.get_logger()
SAMPLE_EVERY_S = 1.0  # one progress event a second: often enough to watch, rare enough not to flood the topic


async def run_with_progress(
    work: Callable[[RunTracker], T], report: Report, every_s: float | None = None, first: float | None = None
) -> T:
    """`first`, if given, is reported as soon as the work has started (in parallel with it).
    The run is sampled every `every_s` seconds (default `SAMPLE_EVERY_S`); at each sample, a run its owner
    cancelled (services/engine/cancellation.py) is told to stop at its next bar."""
    every_s = SAMPLE_EVERY_S if every_s is None else every_s
    cancelled = CANCEL_CHECK.get()
    tracker = RunTracker()
    if cancelled is not None and await _asked_to_stop(cancelled):  # cancelled before it started: stop at bar one
        tracker.cancel()
    task = asyncio.ensure_future(asyncio.to_thread(work, tracker))
    rate = RateMeter()
    if first is not None:
        await _best_effort(report, first, None)
    while True:
        done, _ = await asyncio.wait({task}, timeout=every_s)
        if done:
            return task.result()
        if cancelled is not None and not tracker.cancelled and await _asked_to_stop(cancelled):
            tracker.cancel()
        bars_done = tracker.bars_done
        estimate = run_estimate(bars_done, tracker.bars_total, rate(time.monotonic(), bars_done))
        eta = None if estimate.seconds_left is None else datetime.now(UTC) + timedelta(seconds=estimate.seconds_left)
        await _best_effort(report, estimate.progress_pct, eta)


async def _best_effort(report: Report, pct: float, eta: datetime | None) -> None:
    try:
        await report(pct, eta)
    except Exception as exc:  # progress is best effort: it must not fail the run
        log.warning("progress not reported", error=str(exc))


async def _asked_to_stop(check: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await check()
    except Exception as exc:  # a failed look-up must not fail the run: the next sample asks again
        log.warning("cancellation not checked", error=str(exc))
        return False
