"""The public strategy SDK (bts_sdk): what a plugin may import, strategies run without NautilusTrader, the
book keeps cash and margin the way the ledger does, and a screen agrees with its strategy bar by bar."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from bts_sdk import (
    Bar,
    MomentumParameters,
    SmaCrossoverParameters,
    Strategy,
    StrategyParameters,
    get_strategy_type,
    has_screen,
    strategy_class,
)
from bts_sdk.builtin import MeanReversion, Momentum, SmaCrossover
from services.api.domain import prescreen
from services.engine.domain.book import Book, InstrumentTerms

PLUGIN_SOURCE = Path(__file__).parents[2] / "examples" / "donchian-breakout" / "src"
# What the example plugin may import: the SDK, itself, and its declared dependencies' own (pydantic).
PLUGIN_ALLOWED = {"bts_sdk", "bts_donchian", "pydantic"}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_example_plugin_imports_only_the_sdk_and_its_declared_dependencies() -> None:
    files = sorted(PLUGIN_SOURCE.rglob("*.py"))
    assert len(files) >= 3
    for path in files:
        foreign = _imported_roots(path) - PLUGIN_ALLOWED - sys.stdlib_module_names
        assert not foreign, (
            f"{path.relative_to(PLUGIN_SOURCE)} imports {sorted(foreign)}: a plugin imports bts_sdk only"
        )


def test_the_import_check_sees_an_internal_import(tmp_path: Path) -> None:
    probe = tmp_path / "strategy.py"
    probe.write_text("from services.engine.domain.strategies import SignalStrategy\nimport shared.contracts.models\n")
    assert _imported_roots(probe) - PLUGIN_ALLOWED == {"services", "shared"}


def test_the_sdk_and_the_builtins_import_no_nautilus_and_no_service() -> None:
    code = textwrap.dedent("""
        import sys
        import bts_sdk, bts_sdk.builtin
        loaded = [m for m in sys.modules if m.startswith(("nautilus_trader", "services", "bts."))]
        sys.exit(f"imported: {loaded[:5]}" if loaded else 0)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _bars(closes: list[float]) -> list[Bar]:
    return [Bar(ts=i, open=c, high=c, low=c, close=c, volume=1.0) for i, c in enumerate(closes)]


def _held(strategy: Strategy[StrategyParameters], closes: list[float]) -> list[float]:
    """The position after each bar, as the engine keeps it (None: unchanged; shorts only when allowed)."""
    held, out = 0.0, []
    for bar in _bars(closes):
        target = strategy.on_bar(bar)
        if target is not None:
            held = float(target if target >= 0 or strategy.parameters.allow_short else 0)
        out.append(held)
    return out


def test_the_sma_screen_equals_the_strategy_bar_by_bar() -> None:
    rng = np.random.default_rng(11)
    closes = [float(v) for v in np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 500))), 2)]
    combos = [
        SmaCrossoverParameters(fast_period=f, slow_period=s, allow_short=short)
        for f, s, short in [(2, 3, False), (3, 10, True), (5, 20, False), (10, 50, True), (20, 400, False)]
    ]
    screened = SmaCrossover.screen(np.array(closes), combos)
    assert screened.shape == (len(combos), len(closes))
    for row, parameters in zip(screened, combos, strict=True):
        assert list(row) == _held(SmaCrossover(parameters), closes)
    assert {-1.0, 0.0, 1.0} <= set(screened.ravel())  # the check covered every position


def test_the_screen_is_found_through_the_registry() -> None:
    assert strategy_class(get_strategy_type("SMA_CROSSOVER")) is SmaCrossover
    assert has_screen(SmaCrossover)
    assert not has_screen(Momentum)
    assert not has_screen(MeanReversion)
    assert "SMA_CROSSOVER" in prescreen.screened_types()
    assert not prescreen.supports("MOMENTUM")
    assert not prescreen.supports("NO_SUCH_TYPE")
    with pytest.raises(NotImplementedError, match="Momentum has no vectorised screen"):
        Momentum.screen(np.ones(3), [MomentumParameters(lookback=1, threshold=0.1)])


def test_momentum_targets_from_typed_parameters() -> None:
    strategy = Momentum(MomentumParameters(lookback=2, threshold=0.05))
    closes = [100.0, 101.0, 110.0, 111.0, 109.0, 90.0, 80.0]
    # the return over 2 bars: -, -, +10% (enter), +9.9%, -0.9% (exit: negative), -18.9% (no short), -26.6%
    assert [strategy.on_bar(b) for b in _bars(closes)] == [None, None, 1, 1, 0, 0, 0]


# -- the book, without Nautilus --------------------------------------------------------------------
TERMS = {"A": InstrumentTerms(Decimal("0.25"), Decimal("0.02")), "B": InstrumentTerms(Decimal(1), Decimal(0))}


def _commission(quantity: Decimal, price: Decimal) -> Decimal:
    return max(quantity * Decimal("0.005"), Decimal(1))


def test_an_order_is_booked_at_its_expected_fill_until_it_fills() -> None:
    book = Book(TERMS, _commission, cash=Decimal(10_000))
    book.mark("A", Decimal(50), 50.0)
    book.submitted("o1", "A", 100)  # buy 100 at 50 + 0.02 slippage, commission 1 (the minimum)
    assert book.positions == {"A": 100}
    assert book.equity() == Decimal(10_000) - 100 * Decimal("50.02") - 1 + 100 * 50
    assert book.margin_used() == 100 * 50 * Decimal("0.25")
    book.filled("o1", Decimal(100), Decimal("50.03"), Decimal(1))  # the fill's own price replaces the guess
    assert book.cash == Decimal(10_000) - Decimal(5003) - 1
    assert book.equity() == book.cash + 100 * 50
    assert book.clearly_within_cap()


def test_an_order_that_is_denied_is_undone() -> None:
    book = Book(TERMS, _commission, cash=Decimal(10_000))
    book.mark("B", Decimal(20), 20.0)
    book.submitted("o1", "B", -30)
    book.dropped("o1")
    assert book.positions == {"B": 0}
    assert book.equity() == Decimal(10_000)


def test_a_margin_call_closes_the_largest_margin_first() -> None:
    book = Book(TERMS, cash=Decimal(-50_000))
    for key, quantity in (("A", 1000), ("B", 500)):
        book.mark(key, Decimal(100), 100.0)
        book.positions[key] = quantity
    # equity 100,000; margin 25,000 (A) + 50,000 (B) = 75,000: within 3x
    assert book.margin_call() is None
    book.mark("A", Decimal(40), 40.0)
    book.mark("B", Decimal(40), 40.0)  # equity 10,000; margin 10,000 + 20,000: exactly 3x
    assert book.margin_call() is None
    book.mark("A", Decimal(35), 35.0)
    book.mark("B", Decimal(35), 35.0)  # equity 2,500; margin 8,750 + 17,500 = 26,250 > 7,500
    decision = book.margin_call()
    assert decision is not None
    assert decision.closed == ["B", "A"]  # B first (17,500), then A is still over the cap
    assert (decision.margin_used, decision.account_value) == (Decimal(26_250), Decimal(2_500))
    assert not book.clearly_within_cap()
