"""Walk-forward warm-up: an out-of-sample run warms its indicators on the bars before its window and
trades only inside it (NautilusTrader for real, no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from services.engine.domain.runner import InstrumentSpec, RunInput, RunOutput, run_backtest
from shared.contracts.events import BacktestRequested
from shared.contracts.models.no_signal import is_no_signal, no_signal_message
from shared.contracts.models.walk_forward import WalkForwardSpec, warmup_start, windows

SMA_200 = {"fast_period": 20, "slow_period": 200}


def _daily_bars(start: str, end: str, seed: int = 3) -> pd.DataFrame:
    """Business-day bars stamped at 21:00 UTC (their close), a trending random walk."""
    index = pd.bdate_range(start, end, tz="UTC") + pd.Timedelta(hours=21)
    rng = np.random.default_rng(seed)
    waves = 0.004 * np.sin(np.arange(len(index)) / 40.0)  # long swings: the 20/200 SMAs cross now and then
    close = np.round(100 * np.exp(np.cumsum(waves + rng.normal(0, 0.01, len(index)))), 2)
    return pd.DataFrame(
        {"open": close, "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 1e6}, index=index
    )


def _run(bars: pd.DataFrame, trade_from: pd.Timestamp | None) -> RunOutput:
    request = RunInput(
        strategy_type="SMA_CROSSOVER",
        parameters=SMA_200,
        instruments=[InstrumentSpec("AAA.NASDAQ", "EQUITY", "USD", Decimal("0.01"), 1, Decimal(25))],
        bars={"AAA.NASDAQ": bars},
        timeframe="BAR_DAILY",
        initial_capital=Decimal(100_000),
        position_size_pct=Decimal(5),
        commission_kind="PER_SHARE",
        commission_params={"per_share": Decimal("0.005"), "minimum": Decimal("1.00")},
        slippage_ticks=1,
        trade_from=trade_from,
    )
    return run_backtest(request)


def test_a_200_day_sma_walk_forward_with_12_month_windows_has_signals_in_window_0() -> None:
    spec = WalkForwardSpec(in_sample_months=24, out_of_sample_months=12)
    window = windows(spec, date(2015, 1, 1), date(2019, 12, 31))[0]
    warmup = warmup_start(window.out_of_sample_start, spec.in_sample_months)
    assert warmup == date(2015, 1, 1)
    bars = _daily_bars(str(warmup), str(window.out_of_sample_end))
    in_window = bars[bars.index >= pd.Timestamp(window.out_of_sample_start, tz="UTC")]
    opens = pd.Timestamp(window.out_of_sample_start, tz="UTC")

    cold = _run(in_window, None)  # the old way: the 200-day SMA warms up inside the 12-month window
    warm = _run(bars, opens)

    assert warm.signals > cold.signals
    assert warm.signals > 0
    assert warm.fills
    assert min(f.ts for f in warm.fills) >= opens  # nothing traded on a warm-up bar
    # the same bars without the warm-up gate trade before the window: the gate is what keeps them out
    ungated = _run(bars, None)
    assert min(f.ts for f in ungated.fills) < opens
    # and inside the window the warm run trades exactly on the signals of a run that saw the same history
    assert [f for f in ungated.fills if f.ts >= opens][-1].ts == warm.fills[-1].ts


def test_a_warm_up_must_start_before_the_period() -> None:
    request = {
        "backtest_id": "00000000-0000-0000-0000-000000000001",
        "user_id": "00000000-0000-0000-0000-000000000002",
        "configuration": {
            "strategy_id": "00000000-0000-0000-0000-000000000003",
            "instrument_ids": ["AAA.NASDAQ"],
            "start_date": "2020-01-02",
            "end_date": "2020-12-31",
            "initial_capital": 100000,
        },
        "strategy": {"strategy_type": "SMA_CROSSOVER", "parameters": SMA_200},
    }
    assert BacktestRequested.model_validate({**request, "warmup_start": "2019-01-02"}).warmup_start == date(2019, 1, 2)
    with pytest.raises(ValueError, match=r"warmup_start 2020-01-02 must be before configuration\.start_date"):
        BacktestRequested.model_validate({**request, "warmup_start": "2020-01-02"})


def test_the_no_signal_failure_is_recognised_by_its_one_definition() -> None:
    assert is_no_signal(no_signal_message(date(2020, 1, 2), date(2020, 12, 31)))
    assert not is_no_signal("internal error: ZeroDivisionError")
    assert not is_no_signal(None)
