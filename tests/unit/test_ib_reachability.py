"""An unreachable TWS / IB Gateway: after one import tried every attempt, the next imports fail at once with its
reason (they would otherwise hold the ingest consumer ~15 s each), until the wait is over."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from services.ingest.domain.ib_chunks import IbEndpoint
from services.ingest.domain.ib_pacing import HistoricalPacer
from services.ingest.domain.ib_reachability import IbReachability
from services.ingest.ib_source import IbHistory, IbUnavailable
from shared.devstack.process import free_port
from shared.platform.db.reads import InstrumentRow
from tests.fakes.clock import VirtualClock


def test_a_failure_is_the_reason_until_the_wait_is_over_and_a_connection_clears_it() -> None:
    clock = VirtualClock()
    reach = IbReachability(clock, retry_after_s=60)
    assert reach.refusal() is None
    reach.failed("cannot reach TWS / IB Gateway at 127.0.0.1:7497")
    clock.t = 20
    refusal = reach.refusal()
    assert refusal is not None
    assert refusal.startswith("cannot reach TWS / IB Gateway at 127.0.0.1:7497 (20 s ago; not tried again for 40 s")
    clock.t = 60
    assert reach.refusal() is None  # the next import tries again
    reach.failed("again")
    reach.reached()
    assert reach.refusal() is None


SPY = InstrumentRow(
    id="SPY.ARCA",
    symbol="SPY",
    exchange="ARCA",
    asset_class="ETF",
    currency="USD",
    tick_size=Decimal("0.01"),
    lot_size=1,
    trading_hours={},
    margin_requirement=Decimal(100),
)


async def test_the_imports_after_an_unreachable_gateway_fail_at_once(tmp_path: Path) -> None:
    endpoint = IbEndpoint("127.0.0.1", free_port(), 1)  # nothing listens: each connection is refused
    clock = VirtualClock()
    reach = IbReachability(clock, retry_after_s=60)
    tried: list[int] = []

    async def fetch() -> str:
        history = IbHistory(endpoint, HistoricalPacer(), reach, max_attempts=3, backoff_s=0.01)
        connect = history.ib.connectAsync

        async def counted(*args: object, **kwargs: object) -> object:
            tried.append(1)
            return await connect(*args, **kwargs)  # type: ignore[arg-type]

        history.ib.connectAsync = counted  # type: ignore[method-assign]
        start, end = datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)
        with pytest.raises(IbUnavailable) as failed:
            await history.fetch(SPY, "BAR_DAILY", start, end, tmp_path / "spy.csv")
        return str(failed.value)

    first = await fetch()
    assert len(tried) == 3
    assert f"cannot reach TWS / IB Gateway at 127.0.0.1:{endpoint.port} after 3 attempts" in first
    clock.t = 5
    second = await fetch()
    assert len(tried) == 3  # not one more connection
    assert second.startswith(first + " (5 s ago; not tried again for 55 s")
    clock.t = 65
    await fetch()
    assert len(tried) == 6  # the wait is over: every attempt again
