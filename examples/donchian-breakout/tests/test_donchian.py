"""The plugin end to end without a stack: registered through its entry point, parameters validated by its
schema, and a real NautilusTrader backtest whose trades match the channel rule computed independently."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from bts_sdk import ParameterError, registry
from services.engine.domain.runner import InstrumentSpec, RunInput, run_backtest

pytest.importorskip("bts_donchian", reason="install the plugin: uv pip install -e examples/donchian-breakout")

ENTRY, EXIT = 20, 10


def test_registered_through_its_entry_point() -> None:
    spec = registry()["DONCHIAN_BREAKOUT"]
    assert (spec.distribution, spec.version) == ("bts-donchian-breakout", "0.1.0")
    assert spec.strategy_class == "bts_donchian.strategy:DonchianBreakout"
    schema = spec.json_schema()
    assert set(schema["properties"]) == {"entry_lookback", "exit_lookback", "allow_short"}
    assert set(schema["required"]) == {"entry_lookback", "exit_lookback"}


def test_the_spec_loads_without_nautilus() -> None:
    code = "import sys, bts_donchian.spec; sys.exit(any(m.startswith('nautilus_trader') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(
    ("parameters", "needle"),
    [
        ({"entry_lookback": 20, "exit_lookback": 10, "speed": 1}, "parameters.speed: unknown parameter"),
        ({"entry_lookback": 1, "exit_lookback": 1}, "parameters.entry_lookback"),
        ({"entry_lookback": 10, "exit_lookback": 20}, "exit_lookback must be <= entry_lookback"),
        ({"exit_lookback": 5}, "parameters.entry_lookback"),
    ],
)
def test_parameters_are_checked_by_its_schema(parameters: dict[str, object], needle: str) -> None:
    with pytest.raises(ParameterError, match=needle):
        registry()["DONCHIAN_BREAKOUT"].validate(parameters)


def _bars(days: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    idx = pd.date_range("2020-01-02 21:00", periods=days, freq="B", tz="UTC")
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0.0005, 0.015, days))), 2)
    open_ = np.round(close * (1 + rng.normal(0, 0.002, days)), 2)
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + 0.3,
            "low": np.minimum(open_, close) - 0.3,
            "close": close,
            "volume": 1_000_000.0,
        },
        index=idx,
    )


def _expected_round_trips(bars: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Timestamp | None]]:
    """Long-only channel rule over the previous bars, computed with pandas."""
    upper = bars["high"].rolling(ENTRY).max().shift(1)
    lower = bars["low"].rolling(EXIT).min().shift(1)
    trips, entry = [], None
    for ts, close in bars["close"].items():
        if entry is None and close > upper[ts]:
            entry = ts
        elif entry is not None and close < lower[ts]:
            trips.append((entry, ts))
            entry = None
    return [*trips, (entry, None)] if entry is not None else trips


def test_a_backtest_with_it_runs_on_nautilus_and_follows_the_channel_rule() -> None:
    bars = _bars()
    output = run_backtest(
        RunInput(
            strategy_type="DONCHIAN_BREAKOUT",
            parameters={"entry_lookback": ENTRY, "exit_lookback": EXIT},
            instruments=[InstrumentSpec("DON.NASDAQ", "EQUITY", "USD", Decimal("0.01"), 1, Decimal(25))],
            bars={"DON.NASDAQ": bars},
            timeframe="BAR_DAILY",
            initial_capital=Decimal(100_000),
            position_size_pct=Decimal(5),
            commission_kind="PER_SHARE",
            commission_params={"per_share": Decimal("0.005"), "minimum": Decimal("1.00")},
            slippage_ticks=1,
        )
    )
    expected = _expected_round_trips(bars)
    assert len(expected) >= 3
    buys = [f.ts for f in output.fills if f.side == "BUY"]
    sells = [f.ts for f in output.fills if f.side == "SELL"]
    assert buys == [entry for entry, _ in expected]
    assert sells == [exit_ for _, exit_ in expected if exit_ is not None]
