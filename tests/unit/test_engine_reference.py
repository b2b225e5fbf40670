"""The engine against an independent plain-Python SMA crossover (fills and trade statistics), and a proof of
no look-ahead."""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest

from services.engine.domain.ledger import build_ledger
from services.engine.domain.metrics import trading_metrics
from services.engine.domain.runner import Fill, InstrumentSpec, RunInput, run_backtest

TICK = Decimal("0.01")
CAPITAL = Decimal(100_000)


def _bars(seed: int, days: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2019-01-02 21:00", periods=days, freq="B", tz="UTC")
    close = np.round(80 * np.exp(np.cumsum(rng.normal(0.0002, 0.02, days))), 2)
    open_ = np.round(close * (1 + rng.normal(0, 0.003, days)), 2)
    high, low = np.maximum(open_, close) + 0.2, np.minimum(open_, close) - 0.2
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1e6}, index=index)


def _engine(bars: pd.DataFrame, fast: int, slow: int, pct: int, slippage: int) -> list[Fill]:
    spec = InstrumentSpec("REF.NASDAQ", "EQUITY", "USD", TICK, 1, Decimal(25))
    request = RunInput(
        "SMA_CROSSOVER",
        {"fast_period": fast, "slow_period": slow},
        [spec],
        {"REF.NASDAQ": bars},
        "BAR_DAILY",
        CAPITAL,
        Decimal(pct),
        "PER_SHARE",
        {"per_share": Decimal("0.005"), "minimum": Decimal("1.00")},
        slippage,
    )
    return run_backtest(request).fills


def _reference(bars: pd.DataFrame, fast: int, slow: int, pct: int, slippage: int) -> list[tuple[object, ...]]:
    """Long-only SMA crossover written from the rules, not from the engine's code."""
    cash, held, previous = CAPITAL, 0, None
    closes: list[float] = []
    fills: list[tuple[object, ...]] = []
    slip = TICK * slippage
    for ts, close_f in bars["close"].items():
        closes.append(float(close_f))
        if len(closes) < slow:
            continue
        fast_sma = sum(closes[-fast:]) / fast
        slow_sma = sum(closes[-slow:]) / slow
        relation = (fast_sma > slow_sma) - (fast_sma < slow_sma)
        crossed = previous is not None and relation not in (previous, 0)
        previous = relation
        if not crossed:
            continue
        close = Decimal(str(close_f))
        if relation > 0 and held == 0:
            price = close + slip
            budget = min(cash * pct / 100, cash * Decimal("0.10"), cash * 3 / Decimal("0.25"))
            quantity = int((budget / price).to_integral_value(rounding=ROUND_FLOOR))
            fee = max(Decimal("0.005") * quantity, Decimal("1.00")).quantize(TICK, ROUND_HALF_UP)
            cash -= fee  # a margin account's balance moves by commissions and realised P&L
            held = quantity
            fills.append((ts, "BUY", quantity, price, fee))
        elif relation < 0 and held > 0:
            price = close - slip
            fee = max(Decimal("0.005") * held, Decimal("1.00")).quantize(TICK, ROUND_HALF_UP)
            entry = fills[-1][3]
            cash += (price - entry) * held - fee  # type: ignore[operator]
            fills.append((ts, "SELL", held, price, fee))
            held = 0
    return fills


def test_engine_trades_equal_an_independent_reference_to_the_cent() -> None:
    for seed, (fast, slow, pct, slippage) in enumerate([(5, 20, 5, 1), (10, 30, 10, 0), (3, 12, 2, 3)]):
        bars = _bars(seed)
        engine = [(f.ts, f.side, f.quantity, f.price, f.commission) for f in _engine(bars, fast, slow, pct, slippage)]
        reference = _reference(bars, fast, slow, pct, slippage)
        assert len(reference) > 6
        assert engine == reference


def test_changing_later_bars_cannot_change_earlier_decisions() -> None:
    bars = _bars(7)
    original = _engine(bars, 5, 20, 5, 1)
    cut = bars.index[300]
    changed = bars.copy()
    rng = np.random.default_rng(99)
    later = changed.index > cut
    changed.loc[later, ["open", "high", "low", "close"]] *= rng.uniform(0.5, 1.5, (int(later.sum()), 1))
    changed.loc[later, "high"] = changed.loc[later, ["open", "high", "low", "close"]].max(axis=1)
    changed.loc[later, "low"] = changed.loc[later, ["open", "high", "low", "close"]].min(axis=1)
    changed = changed.round(2)
    altered = _engine(changed, 5, 20, 5, 1)
    before = [f for f in original if f.ts <= cut]
    assert before
    assert [f for f in altered if f.ts <= cut] == before
    assert [f for f in altered if f.ts > cut] != [f for f in original if f.ts > cut]


def _reference_statistics(fills: list[tuple[object, ...]], last_close: Decimal) -> dict[str, object]:
    """Trade statistics from the reference's fills, by the rules: a BUY then its SELL is one closed round trip
    (P&L net of both commissions); a BUY with no SELL is open, marked at the last close net of its commission."""
    closed: list[Decimal] = []
    open_pnl = Decimal(0)
    for n in range(0, len(fills), 2):
        _, _, quantity, entry, entry_fee = fills[n]
        if n + 1 < len(fills):
            _, _, _, exit_, exit_fee = fills[n + 1]
            closed.append((exit_ - entry) * quantity - entry_fee - exit_fee)  # type: ignore[operator]
        else:
            open_pnl = (last_close - entry) * quantity - entry_fee  # type: ignore[operator]
    wins = [p for p in closed if p > 0]
    return {
        "trades_count": len(closed),
        "winning": len(wins),
        "win_rate": len(wins) / len(closed),
        "expectancy": float(sum(closed)) / len(closed),
        "open_trades": len(fills) % 2,
        "open_pnl": open_pnl,
    }


def _engine_statistics(bars: pd.DataFrame, fills: list[Fill]) -> dict[str, object]:
    ledger = build_ledger(fills, bars[["close"]].rename(columns={"close": "REF.NASDAQ"}), CAPITAL, {})
    closed = [t.pnl for t in ledger.closed_trades if t.pnl is not None]
    trading = trading_metrics(closed)
    return {
        "trades_count": len(closed),
        "winning": sum(1 for p in closed if p > 0),
        "win_rate": trading["win_rate"],
        "expectancy": trading["expectancy"],
        "open_trades": len(ledger.open_trades),
        "open_pnl": ledger.open_pnl(),
    }


def test_trade_statistics_count_closed_round_trips_and_mark_open_ones_to_the_cent() -> None:
    """win_rate is winning / closed round trips, over the same trades as expectancy; an open position is
    counted apart with its marked P&L. Each run is also cut where a position is open."""
    ended_open = 0
    for seed, (fast, slow, pct, slippage) in enumerate([(5, 20, 5, 1), (10, 30, 10, 0), (3, 12, 2, 3)]):
        full = _bars(seed)
        buys = [f.ts for f in _engine(full, fast, slow, pct, slippage) if f.side == "BUY"]
        for bars in (full, full[full.index <= buys[-1] + pd.Timedelta(days=5)]):
            reference = _reference(bars, fast, slow, pct, slippage)
            expected = _reference_statistics(reference, Decimal(str(bars["close"].iloc[-1])))
            engine = _engine_statistics(bars, _engine(bars, fast, slow, pct, slippage))
            assert engine["expectancy"] == pytest.approx(expected.pop("expectancy"), abs=1e-9)
            engine.pop("expectancy")
            assert engine == expected
            ended_open += int(expected["open_trades"])  # type: ignore[call-overload]
    assert ended_open >= 3  # every cut run ends with its position open
