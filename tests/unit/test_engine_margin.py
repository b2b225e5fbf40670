"""The 3x margin rule after entry: the margin call's choice (pure), and real Nautilus runs whose books
sit at the cap when prices fall, checked snapshot by snapshot against the database's rule."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from services.engine.bars import session_dates
from services.engine.domain.ledger import Ledger, MarginBreach, Snapshot, build_ledger
from services.engine.domain.margin import Exposure, positions_to_close, within_leverage
from services.engine.domain.runner import Fill, RunInput, RunOutput
from services.engine.domain.strategies.base import TimestampGroups
from tests.integration.market import falling_at_the_cap_closes
from tests.unit.test_engine_domain import _bars, _run, _spec

SMA = {"fast_period": 5, "slow_period": 20}


# -- the choice (pure) ---------------------------------------------------------------------------------


def _exposures(*margins: tuple[str, int]) -> list[Exposure]:
    return [Exposure(i, Decimal(m), Decimal(0)) for i, m in margins]


def test_a_book_within_the_cap_is_left_alone() -> None:
    book = _exposures(("A", 150_000), ("B", 150_000))
    assert positions_to_close(book, Decimal(300_000), Decimal(100_000)) == []  # exactly 3x is within


def test_the_largest_margin_goes_first_ties_by_id_until_under_the_cap_less_the_buffer() -> None:
    book = _exposures(("D", 40_000), ("C", 50_000), ("B", 50_000), ("A", 20_000), ("E", 150_000))
    # 310,000 of margin on 100,000: the target is 0.99 x 3 x 100,000 = 297,000; E alone brings it to 160,000
    assert positions_to_close(book, Decimal(310_000), Decimal(100_000)) == ["E"]
    # on 40,000 (target 118,800): E, then B before C (same margin, ids in order): 110,000
    assert positions_to_close(book, Decimal(310_000), Decimal(40_000)) == ["E", "B"]


def test_the_buffer_leaves_room_below_the_cap() -> None:
    book = _exposures(*[(f"S{i:02d}", 10_000) for i in range(31)])
    # 310,000 on 100,000: one closing leaves exactly 3x (within the rule, not the 1% buffer), so two go
    assert positions_to_close(book, Decimal(310_000), Decimal(100_000)) == ["S00", "S01"]


def test_closing_costs_come_off_the_account_value_as_positions_are_chosen() -> None:
    def book(cost: int) -> list[Exposure]:
        return [Exposure(f"S{i:02d}", Decimal(10_000), Decimal(cost)) for i in range(30)] + [
            Exposure("T", Decimal(5_000), Decimal(cost))
        ]

    # 305,000 on 100,000: without costs one closing is enough (295,000 <= 297,000); with 800 of costs
    # each, 295,000 > 0.99 x 3 x 99,200 = 294,624, so a second one goes
    assert positions_to_close(book(0), Decimal(305_000), Decimal(100_000)) == ["S00"]
    assert positions_to_close(book(800), Decimal(305_000), Decimal(100_000)) == ["S00", "S01"]


def test_an_account_value_at_or_below_zero_closes_everything() -> None:
    book = _exposures(("A", 10), ("B", 20))
    assert positions_to_close(book, Decimal(30), Decimal(-5)) == ["B", "A"]
    assert positions_to_close(book, Decimal(30), Decimal(0)) == ["B", "A"]


def test_within_leverage_compares_the_cents_the_database_stores() -> None:
    assert within_leverage(Decimal("300000.00"), Decimal("100000.00"))
    assert not within_leverage(Decimal("300000.01"), Decimal("100000.00"))
    # 300.015 is stored as 300.02 and 100.005 as 100.00: over, although 300.015 <= 3 x 100.005
    assert not within_leverage(Decimal("300.015"), Decimal("100.005"))


def test_timestamp_groups_find_the_last_bar_of_each_timestamp() -> None:
    fixed = TimestampGroups(3)
    assert [fixed.complete(ts) for ts in (1, 1, 1, 2, 2, 2)] == [False, False, True, False, False, True]
    gaps = TimestampGroups(0, [10, 20, 30], [2, 1, 2])
    assert [gaps.complete(ts) for ts in (10, 10, 20, 30, 30)] == [False, True, True, False, True]
    with pytest.raises(RuntimeError, match="not given"):
        gaps.complete(40)


def test_a_trade_snapshot_follows_all_fills_of_its_timestamp_at_the_closes() -> None:
    ts = pd.Timestamp("2020-01-02 21:00", tz="UTC")
    fills = [
        Fill("A", ts, "BUY", 100, Decimal("10.01"), Decimal(1), Decimal(1)),
        Fill("B", ts, "BUY", 50, Decimal("20.01"), Decimal(1), Decimal("0.5")),
    ]
    closes = pd.DataFrame({"A": [10.0], "B": [20.0]}, index=[ts])
    ledger = build_ledger(fills, closes, Decimal(10_000), {"A": Decimal(100), "B": Decimal(100)})
    trade = [s for s in ledger.snapshots if s.kind == "TRADE"]
    assert len(trade) == 1
    # cash 10,000 - 1,001 - 1,000.50 - 2 = 7,996.50; positions at the closes 1,000 + 1,000
    assert trade[0].cash_balance == Decimal("7996.50")
    assert trade[0].total_value == Decimal("9996.50")
    assert [h.market_price for h in trade[0].positions] == [Decimal("10.0"), Decimal("20.0")]
    assert [h.avg_price for h in trade[0].positions] == [Decimal("10.01"), Decimal("20.01")]


# -- real Nautilus runs ---------------------------------------------------------------------------------


def _market(seed: int) -> pd.DataFrame:
    close = falling_at_the_cap_closes(seed)
    index = pd.date_range("2020-01-02 21:00", periods=len(close), freq="B", tz="UTC")
    open_ = np.round(close * (1 + np.random.default_rng(seed).normal(0, 0.002, len(close))), 2)
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + 0.5,
            "low": np.minimum(open_, close) - 0.5,
            "close": close,
            "volume": 1e6,
        },
        index=index,
    )


def _ledger(request: RunInput, output: RunOutput) -> Ledger:
    closes = output.closes.ffill()
    daily = closes.groupby(session_dates(pd.DatetimeIndex(closes.index))).tail(1)
    return build_ledger(
        output.fills, daily, request.initial_capital, {s.id: s.margin_pct for s in request.instruments}, closes
    )


def _universe(count: int) -> dict[str, pd.DataFrame]:
    return {f"M{i:02d}.NASDAQ": _market(i) for i in range(count)}


def test_a_fall_at_the_cap_gets_a_margin_call_and_every_snapshot_stays_within_3x() -> None:
    bars = _universe(36)  # 36 instruments at 100% margin, 10% positions: the 3x cap binds after 30
    request, output = _run(
        "SMA_CROSSOVER", SMA, bars=bars, instruments=[_spec(i, margin=100) for i in bars], position_size_pct=10
    )
    assert isinstance(output, RunOutput)
    ledger = _ledger(request, output)
    assert output.skipped_entries > 0  # entries stopped at the cap
    assert len(output.margin_calls) == 1
    call = output.margin_calls[0]
    fall = bars["M00.NASDAQ"].index[36]
    assert call.ts == fall
    assert call.margin_used > 3 * call.account_value
    # the largest margins went first: at the fall's closes, no position left was bigger than one closed
    held: dict[str, int] = {}
    for fill in output.fills:
        if fill.ts < fall:
            signed = fill.quantity if fill.side == "BUY" else -fill.quantity
            held[fill.instrument_id] = held.get(fill.instrument_id, 0) + signed
    margins = {i: q * Decimal(str(bars[i].loc[fall, "close"])) for i, q in held.items() if q}
    ranked = sorted(margins, key=lambda i: (-margins[i], i))
    assert list(call.closed) == ranked[: len(call.closed)]
    # the closings fill at the fall bar's close less a tick of slippage (the fill convention)
    closings = [f for f in output.fills if f.ts == fall]
    assert [f.instrument_id for f in closings] == list(call.closed)
    for fill in closings:
        assert fill.side == "SELL"
        assert fill.price == Decimal(str(bars[fill.instrument_id].loc[fall, "close"])) - Decimal("0.01")
    # every stored snapshot within the rule, as the database checks it (the ledger also refuses to make one)
    for snapshot in ledger.snapshots:
        assert snapshot.margin_used <= 3 * snapshot.total_value
    after = next(s for s in ledger.snapshots if s.kind == "TRADE" and s.timestamp == fall)
    assert after.margin_used <= Decimal("0.99") * 3 * after.total_value  # the buffer is left free


def test_the_order_of_the_instruments_changes_no_decision() -> None:
    """Nautilus delivers bars of one timestamp in the order their data was added; the strategy acts once all
    are in, in instrument-id order, so the request's order of instruments does not matter."""
    bars = _universe(34)
    specs = [_spec(i, margin=100) for i in bars]
    _, forward = _run("SMA_CROSSOVER", SMA, bars=bars, instruments=specs, position_size_pct=10)
    backward_bars = dict(reversed(list(bars.items())))
    _, backward = _run("SMA_CROSSOVER", SMA, bars=backward_bars, instruments=specs[::-1], position_size_pct=10)
    assert forward.fills == backward.fills  # type: ignore[attr-defined]
    assert forward.margin_calls == backward.margin_calls  # type: ignore[attr-defined]


def test_prices_off_the_tick_grid_are_marked_as_nautilus_holds_them() -> None:
    """Adjusted closes with more decimals than the tick: the ledger marks what Nautilus traded on."""
    bars = {i: f.assign(close=f["close"] + 0.0051) for i, f in _universe(34).items()}
    request, output = _run(
        "SMA_CROSSOVER", SMA, bars=bars, instruments=[_spec(i, margin=100) for i in bars], position_size_pct=10
    )
    assert isinstance(output, RunOutput)
    assert output.margin_calls
    assert (output.closes.round(2) == output.closes).all().all()
    for fill in output.fills:
        close = Decimal(str(output.closes.loc[fill.ts, fill.instrument_id]))
        assert fill.price == close + (Decimal("0.01") if fill.side == "BUY" else Decimal("-0.01"))
    assert all(s.margin_used <= 3 * s.total_value for s in _ledger(request, output).snapshots)


def test_a_quiet_book_has_no_margin_call() -> None:
    _, output = _run("SMA_CROSSOVER", SMA, bars={"AAA.NASDAQ": _bars(1), "BBB.NASDAQ": _bars(2)})
    assert output.margin_calls == []  # type: ignore[attr-defined]


def test_the_ledger_hands_its_snapshots_on_in_batches_as_it_makes_them() -> None:
    request, output = _run("SMA_CROSSOVER", SMA)
    assert isinstance(output, RunOutput)
    batches: list[list[Snapshot]] = []
    ledger = build_ledger(
        output.fills,
        output.closes,
        request.initial_capital,
        {s.id: s.margin_pct for s in request.instruments},
        sink=batches.append,
        batch=64,
    )
    assert [len(b) for b in batches[:-1]] == [64] * (len(batches) - 1)
    assert 0 < len(batches[-1]) <= 64
    assert [s for b in batches for s in b] == ledger.snapshots


def test_a_loss_beyond_the_account_fails_before_the_snapshot_is_handed_on() -> None:
    ts = pd.date_range("2020-01-02 21:00", periods=3, freq="B", tz="UTC")
    fills = [Fill("A", ts[0], "BUY", 3_000, Decimal(100), Decimal(0), Decimal(0))]  # 300,000 long on 100,000
    handed: list[Snapshot] = []
    closes = pd.DataFrame({"A": [100.0, 99.0, 60.0]}, index=ts)  # -40% on day 3 is -120,000
    below_zero = re.escape("fell below zero, to -20000.00 (margin in use 90000.00)")
    with pytest.raises(MarginBreach, match=below_zero) as breach:
        build_ledger(fills, closes, Decimal(100_000), {"A": Decimal(50)}, sink=handed.extend, batch=1)
    assert breach.value.snapshot.timestamp == ts[2]
    assert [s.timestamp for s in handed] == [ts[0], ts[0], ts[1]]  # TRADE and DAILY of day 1, DAILY of day 2
    # a book the strategy should have cut back (no margin call in a ledger of hand-made fills)
    with pytest.raises(MarginBreach, match="which a margin call should have prevented"):
        build_ledger(fills, closes, Decimal(100_000), {"A": Decimal(100)})
