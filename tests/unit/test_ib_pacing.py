"""The IB pacing limiter on a virtual clock: every rule holds over hundreds of queued requests."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.domain.ib_chunks import plan_chunks
from services.ingest.domain.ib_pacing import ARRIVAL_MARGIN_S, HistoricalPacer, PacedRequest
from tests.fakes.clock import VirtualClock


def _request(i: int, what: str = "TRADES", contract: str | None = None) -> PacedRequest:
    return PacedRequest(
        contract=contract or f"C{i % 97}",
        exchange="SMART",
        what_to_show=what,
        bar_size="1 min",
        duration="1 D",
        end=f"2024{i:04d}",
    )


async def _run_all(
    pacer: HistoricalPacer, clock: VirtualClock, requests: list[PacedRequest]
) -> list[tuple[float, PacedRequest]]:
    starts: list[tuple[float, PacedRequest]] = []

    async def one(request: PacedRequest) -> None:
        async with pacer.slot(request):
            starts.append((clock.now(), request))

    await asyncio.gather(*(one(r) for r in requests))
    return starts


def _max_in_window(times: list[tuple[float, int]], span: float) -> int:
    """Largest total weight of starts in any half-open window [t, t + span)."""
    times = sorted(times)
    best, lo, total = 0, 0, 0
    for hi in range(len(times)):
        total += times[hi][1]
        while times[hi][0] - times[lo][0] >= span:
            total -= times[lo][1]
            lo += 1
        best = max(best, total)
    return best


async def test_500_queued_requests_keep_every_window_rule() -> None:
    clock = VirtualClock()
    pacer = HistoricalPacer(clock)
    requests = [_request(i, "BID_ASK" if i % 5 == 0 else "TRADES") for i in range(500)]
    starts = await _run_all(pacer, clock, requests)
    assert len(starts) == 500
    assert _max_in_window([(t, 1) for t, _ in starts], 1.0) <= 50
    assert _max_in_window([(t, r.weight) for t, r in starts], 600.0) <= 60
    weight = sum(r.weight for r in requests)
    assert clock.now() >= (weight - 60) / 60 * 600  # the 10-minute rule is what paces a long job


async def test_a_burst_is_capped_at_50_a_second() -> None:
    clock = VirtualClock()
    pacer = HistoricalPacer(clock, window_limit=(10_000, 600.0))  # only the per-second rule binds
    starts = await _run_all(pacer, clock, [_request(i, contract=f"X{i}") for i in range(500)])
    assert _max_in_window([(t, 1) for t, _ in starts], 1.0 + ARRIVAL_MARGIN_S) == 50
    assert 9 * (1.0 + ARRIVAL_MARGIN_S) <= clock.now() < 10 * (1.0 + ARRIVAL_MARGIN_S)


async def test_identical_requests_wait_15_seconds_and_a_contract_5_per_2_seconds() -> None:
    clock = VirtualClock()
    pacer = HistoricalPacer(clock)
    same = _request(1)
    starts = await _run_all(pacer, clock, [same, same])
    assert starts[1][0] - starts[0][0] == pytest.approx(15.0 + ARRIVAL_MARGIN_S)
    clock2 = VirtualClock()
    pacer2 = HistoricalPacer(clock2)
    family = [PacedRequest("AAPL", "SMART", "TRADES", "1 min", "1 D", f"end{i}") for i in range(6)]
    starts2 = await _run_all(pacer2, clock2, family)
    assert [t for t, _ in starts2[:5]] == [0.0] * 5
    assert starts2[5][0] == pytest.approx(2.0 + ARRIVAL_MARGIN_S)


async def test_at_most_50_open_and_first_come_first_served() -> None:
    pacer = HistoricalPacer(VirtualClock(), window_limit=(10_000, 600.0), per_second=10_000)
    gate = asyncio.Event()
    peak, order = 0, []

    async def one(i: int) -> None:
        nonlocal peak
        async with pacer.slot(_request(i, contract=f"Y{i}")):
            order.append(i)
            peak = max(peak, pacer.open)
            await gate.wait()

    tasks = [asyncio.create_task(one(i)) for i in range(80)]
    await asyncio.sleep(0.05)
    assert pacer.open == 50
    gate.set()
    await asyncio.gather(*tasks)
    assert peak == 50
    assert order == list(range(80))


def test_delay_for_is_zero_when_nothing_ran() -> None:
    assert HistoricalPacer(VirtualClock()).delay_for(_request(1), 0.0) == 0.0


def test_chunks_cover_the_range_without_gaps_or_overlaps() -> None:
    start, end = datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    minute = plan_chunks(start, end, "1 min")
    assert len(minute) == 365
    assert {c.duration for c in minute} == {"1 D"}
    assert minute[0].start == start
    assert minute[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(minute))
    daily = plan_chunks(datetime(2019, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC), "1 day")
    assert [c.duration for c in daily][-1] == "365 D"
    assert daily[0].start <= datetime(2019, 1, 1, tzinfo=UTC)
    assert sum(c.days for c in daily) >= 2192
    odd = plan_chunks(start, start + timedelta(days=10, hours=3), "5 mins")
    assert [c.duration for c in odd] == ["4 D", "7 D"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)),
        (datetime(2024, 1, 1), datetime(2024, 2, 1)),
    ],
)
def test_bad_ranges_are_refused(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError, match="must be"):
        plan_chunks(start, end, "1 min")
