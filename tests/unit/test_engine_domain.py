"""Engine logic on NautilusTrader for real (no database): fills, sizing rules, ledger, metrics."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from services.engine.bars import session_dates
from services.engine.domain.book import Book, InstrumentTerms
from services.engine.domain.fees import commission
from services.engine.domain.ledger import build_ledger, equity_curve
from services.engine.domain.metrics import performance_metrics
from services.engine.domain.runner import InstrumentSpec, RunError, RunInput, run_backtest
from services.engine.domain.sizing import SizingRules, entry_quantity

PER_SHARE = {"per_share": Decimal("0.005"), "minimum": Decimal("1.00")}


def _bars(seed: int, days: int = 300, drift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2020-01-02 21:00", periods=days, freq="B", tz="UTC")
    close = np.round(100 * np.exp(np.cumsum(rng.normal(drift, 0.015, days))), 2)
    open_ = np.round(close * (1 + rng.normal(0, 0.002, days)), 2)
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + 0.5,
            "low": np.minimum(open_, close) - 0.5,
            "close": close,
            "volume": 1_000_000.0,
        },
        index=idx,
    )


def _spec(instrument: str, margin: int = 25, lot: int = 1) -> InstrumentSpec:
    return InstrumentSpec(instrument, "EQUITY", "USD", Decimal("0.01"), lot, Decimal(margin))


def _run(strategy: str, params: dict[str, object], **overrides: object) -> tuple[RunInput, object]:
    bars = overrides.pop("bars", {"AAA.NASDAQ": _bars(1), "BBB.NASDAQ": _bars(2)})
    request = RunInput(
        strategy_type=strategy,
        parameters=params,
        instruments=overrides.pop("instruments", [_spec(i) for i in bars]),  # type: ignore[arg-type]
        bars=bars,  # type: ignore[arg-type]
        timeframe="BAR_DAILY",
        initial_capital=Decimal(100_000),
        position_size_pct=Decimal(str(overrides.pop("position_size_pct", 5))),
        commission_kind=str(overrides.pop("commission_kind", "PER_SHARE")),
        commission_params=overrides.pop("commission_params", PER_SHARE),  # type: ignore[arg-type]
        slippage_ticks=int(overrides.pop("slippage_ticks", 1)),  # type: ignore[call-overload]
    )
    return request, run_backtest(request)


SMA = {"fast_period": 5, "slow_period": 20}


def test_market_orders_fill_at_the_signal_bars_close_plus_slippage() -> None:
    request, output = _run("SMA_CROSSOVER", SMA, slippage_ticks=2)
    assert output.fills  # type: ignore[attr-defined]
    for fill in output.fills:  # type: ignore[attr-defined]
        close = Decimal(str(request.bars[fill.instrument_id].loc[fill.ts, "close"]))
        expected = close + Decimal("0.02") if fill.side == "BUY" else close - Decimal("0.02")
        assert fill.price == expected
        assert fill.slippage == Decimal("0.02") * fill.quantity


def test_runs_are_deterministic() -> None:
    _, first = _run("MEAN_REVERSION", {"lookback": 20, "entry_z": 1.5, "exit_z": 0.3, "allow_short": True})
    _, second = _run("MEAN_REVERSION", {"lookback": 20, "entry_z": 1.5, "exit_z": 0.3, "allow_short": True})
    assert first.fills == second.fills  # type: ignore[attr-defined]
    assert any(f.side == "SELL" for f in first.fills)  # type: ignore[attr-defined]


def test_entry_size_is_the_percent_of_equity_rounded_down_to_lots() -> None:
    bars = {"AAA.NASDAQ": _bars(1)}
    _, output = _run("SMA_CROSSOVER", SMA, bars=bars, instruments=[_spec("AAA.NASDAQ", lot=10)], position_size_pct=2)
    first = output.fills[0]  # type: ignore[attr-defined]
    close = Decimal(str(bars["AAA.NASDAQ"].loc[first.ts, "close"]))
    assert first.quantity % 10 == 0
    # equity is still the initial capital; the expected fill price is close + 1 tick of slippage
    assert first.quantity == int(Decimal(2000) / (close + Decimal("0.01")) / 10) * 10


def test_no_position_above_ten_percent_and_margin_within_three_times_equity() -> None:
    request, output = _run("SMA_CROSSOVER", SMA, position_size_pct=10)
    ledger = build_ledger(
        output.fills,
        pd.DataFrame({k: v["close"] for k, v in request.bars.items()}),  # type: ignore[attr-defined]
        request.initial_capital,
        {s.id: s.margin_pct for s in request.instruments},
    )
    # One TRADE snapshot per timestamp with fills, after all of them (a timestamp's fills are one trade event).
    trade_snaps = {s.timestamp: s for s in ledger.snapshots if s.kind == "TRADE"}
    assert len(trade_snaps) == len([s for s in ledger.snapshots if s.kind == "TRADE"])
    assert set(trade_snaps) == {f.ts for f in output.fills}  # type: ignore[attr-defined]
    openings = [
        (f, trade_snaps[f.ts])
        for f in output.fills  # type: ignore[attr-defined]
        if any(h.instrument_id == f.instrument_id for h in trade_snaps[f.ts].positions)
    ]
    assert openings
    for fill, snap in openings:  # at entry, at the fill price, within 10% of the portfolio
        assert fill.quantity * fill.price <= snap.total_value * Decimal("0.10")
    for snap in ledger.snapshots:
        assert snap.margin_used <= snap.total_value * 3


def test_ledger_matches_nautilus_to_the_cent_and_pnl_is_net_of_commission() -> None:
    request, output = _run("SMA_CROSSOVER", SMA)
    closes = pd.DataFrame({k: v["close"] for k, v in request.bars.items()})
    ledger = build_ledger(
        output.fills,
        closes,
        request.initial_capital,  # type: ignore[attr-defined]
        {s.id: s.margin_pct for s in request.instruments},
    )
    closed = [t for t in ledger.trades if t.pnl is not None]
    assert closed
    for trade in closed:
        direction = 1 if trade.side == "LONG" else -1
        gross = (trade.exit_price - trade.entry_price) * trade.quantity * direction  # type: ignore[operator]
        assert trade.pnl == gross - trade.commission
        assert trade.commission == 2 * max(Decimal("0.005") * trade.quantity, Decimal("1.00")).quantize(Decimal("0.01"))
    cash_flows = sum(
        (-(f.quantity if f.side == "BUY" else -f.quantity) * f.price - f.commission for f in output.fills),  # type: ignore[attr-defined]
        Decimal(0),
    )
    assert ledger.cash == request.initial_capital + cash_flows
    final = ledger.snapshots[-1]
    assert final.total_value == (final.cash_balance + sum(h.market_value for h in final.positions)).quantize(
        Decimal("0.01")
    )


@pytest.mark.parametrize(
    ("kind", "params", "quantity", "price", "expected"),
    [
        ("PER_SHARE", PER_SHARE, 100, Decimal(50), Decimal("1.00")),  # minimum applies
        ("PER_SHARE", PER_SHARE, 1000, Decimal(50), Decimal("5.00")),
        ("PERCENT", {"percent": Decimal("0.1"), "minimum": Decimal(0)}, 100, Decimal("122"), Decimal("12.20")),
        ("FIXED", {"per_order": Decimal("2.50")}, 7, Decimal(10), Decimal("2.50")),
    ],
)
def test_commission_models(
    kind: str, params: dict[str, Decimal], quantity: int, price: Decimal, expected: Decimal
) -> None:
    assert commission(kind, Decimal(quantity), price, params) == expected


def test_unsupported_asset_class_is_a_clear_error() -> None:
    future = InstrumentSpec("ES.CME", "FUTURE", "USD", Decimal("0.25"), 1, Decimal(5))
    with pytest.raises(RunError, match="asset class FUTURE is not supported"):
        _run("SMA_CROSSOVER", SMA, bars={"ES.CME": _bars(1)}, instruments=[future])


def test_metrics_follow_empyrical_conventions() -> None:
    idx = pd.bdate_range("2020-01-01", periods=253)
    equity = pd.Series(100_000 * 1.001 ** np.arange(253), index=idx)
    bench = pd.Series(300 * 1.0005 ** np.arange(253), index=idx)
    metrics = performance_metrics(equity, 100_000, [Decimal(10), Decimal(-5), Decimal(0)], bench)
    assert metrics["returns"]["total_return"] == pytest.approx(1.001**252 - 1)
    assert metrics["risk"]["max_drawdown"] == 0.0
    assert metrics["risk"]["sortino_ratio"] is None  # no downside: undefined, not invented
    assert metrics["trading"] == {
        "win_rate": 1 / 3,
        "avg_win": 10.0,
        "avg_loss": -5.0,
        "profit_factor": 2.0,
        "expectancy": 5 / 3,
    }
    assert metrics["benchmark"]["benchmark_return"] == pytest.approx(1.0005**252 - 1)
    no_bench = performance_metrics(equity, 100_000, [], None)
    assert no_bench["benchmark"] == {"benchmark_return": None, "alpha": None, "beta": None}


def test_equity_curve_is_daily_total_value() -> None:
    request, output = _run("MOMENTUM", {"lookback": 10, "threshold": 0.02})
    closes = pd.DataFrame({k: v["close"] for k, v in request.bars.items()})
    ledger = build_ledger(output.fills, closes, request.initial_capital, {})  # type: ignore[attr-defined]
    curve = equity_curve(ledger)
    assert len(curve) == len(closes)
    assert curve.index.equals(closes.index)


def _book(equity: int, margin_pct: float, lot: int = 1, held: dict[str, int] | None = None) -> Book:
    """A book worth `equity`, holding `held` shares (at 100) of instruments S0..S39 (no Nautilus needed)."""
    terms = {f"S{i}.NASDAQ.SIM": InstrumentTerms(Decimal(str(margin_pct)) / 100, Decimal(0), lot) for i in range(40)}
    book = Book(terms)
    for key, quantity in (held or {}).items():
        book.positions[key] = quantity
        book.mark(key, Decimal(100), 100.0)
    value = sum((q * Decimal(100) for q in (held or {}).values()), Decimal(0))
    book.set_cash(Decimal(equity) - value)
    assert book.equity() == equity
    return book


def _size(book: Book, key: str, price: Decimal, position_size_pct: float) -> int:
    return entry_quantity(book, key, price, SizingRules(Decimal(str(position_size_pct))))


def test_entry_size_is_position_size_pct_of_equity_rounded_down_to_the_lot() -> None:
    key = "S0.NASDAQ.SIM"
    # 3086.43 / 12.34 = 250.1 shares -> 2 lots
    assert _size(_book(123_457, 25, lot=100), key, Decimal("12.34"), 2.5) == 200
    assert _size(_book(123_457, 25), key, Decimal("12.34"), 2.5) == 250


def test_no_entry_above_ten_percent_of_the_portfolio_whatever_the_size_asked() -> None:
    assert _size(_book(100_000, 25), "S0.NASDAQ.SIM", Decimal(100), 50) == 100  # 10% of 100k at 100


def test_entries_stop_where_total_margin_would_pass_three_times_the_account_value() -> None:
    # 29 positions of 10,000 at full margin: 290,000 of the 300,000 allowed
    held = {f"S{n}.NASDAQ.SIM": 100 for n in range(29)}
    new = "S30.NASDAQ.SIM"
    book = _book(100_000, 100, held=held)
    assert book.margin_used() == Decimal(290_000)
    assert _size(book, new, Decimal(100), 10) == 100  # exactly the room that is left
    book = _book(100_000, 100, held={**held, "S29.NASDAQ.SIM": 60})
    assert _size(book, new, Decimal(100), 10) == 40  # 4,000 of room, not the 10,000 asked
    book = _book(100_000, 100, held={**held, "S29.NASDAQ.SIM": 100})
    assert _size(book, new, Decimal(100), 10) == 0  # no room: the entry is skipped
    half = _book(100_000, 50, held={**held, "S29.NASDAQ.SIM": 100})  # at 50% margin: half the margin used
    assert _size(half, new, Decimal(100), 10) == 100


def test_session_dates_of_close_stamped_bars() -> None:
    stamps = pd.DatetimeIndex(
        [
            "2022-01-03 23:59",
            "2022-01-04 00:00",
            "2022-01-04 00:01",
            "2022-01-05 00:00",
            "2022-01-05 13:20",
            "2022-01-05 21:00",
        ],
        tz="UTC",
    )
    # 24/5: the 23:59-24:00 bar closes at 00:00 and belongs to the session it ends; a partial last session
    # (13:20) and a US close (21:00) keep their own date.
    assert list(session_dates(stamps).strftime("%m-%d")) == ["01-03", "01-03", "01-04", "01-04", "01-05", "01-05"]
