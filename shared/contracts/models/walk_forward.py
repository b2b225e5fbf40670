"""Walk-forward analysis: in-sample / out-of-sample windows, and the stitched out-of-sample equity curve.

Shared by the gateway (which runs the windows and serves the curve) and reporting (which draws it),
so both show the same numbers.

Windows: out-of-sample (OOS) windows of `out_of_sample_months` tile the period after the first
`in_sample_months`; each has an in-sample (IS) window just before it: the `in_sample_months` before
it (rolling) or everything from the period's start (anchored). A tail shorter than 30 weekdays
joins the last OOS window, since a backtest needs 30 trading days.

Warm-up: each OOS run is fed the `in_sample_months` of bars before its window to warm its indicators
and trades only inside the window (`warmup_start`), so a window's result depends only on its signals.

Stitching: each OOS run starts from the initial capital; the stitched curve chains them, each
window's values scaled so it starts where the previous one ended (compounding). A window without a
signal is flat (0%, the money stays in cash), and so is one whose run failed; the windows table says which.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.models.backtest import weekdays
from shared.contracts.models.enums import SweepChildState
from shared.contracts.models.no_signal import is_no_signal

if TYPE_CHECKING:
    import pandas as pd

Mode = Literal["rolling", "anchored"]
MIN_WEEKDAYS = 30


class WalkForwardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    in_sample_months: int = Field(ge=1, le=120, description="length of each in-sample window", examples=[24])
    out_of_sample_months: int = Field(ge=1, le=60, description="length of each out-of-sample window", examples=[6])
    mode: Mode = Field(
        default="rolling",
        description="rolling: IS windows of fixed length; anchored: IS windows all start at the period's start",
    )


@dataclass(frozen=True)
class Window:
    index: int
    in_sample_start: date
    in_sample_end: date
    out_of_sample_start: date
    out_of_sample_end: date

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "in_sample_start": self.in_sample_start.isoformat(),
            "in_sample_end": self.in_sample_end.isoformat(),
            "out_of_sample_start": self.out_of_sample_start.isoformat(),
            "out_of_sample_end": self.out_of_sample_end.isoformat(),
        }


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def warmup_start(out_of_sample_start: date, in_sample_months: int) -> date:
    """Where an out-of-sample run's warm-up starts: `in_sample_months` before the window (the first bars of the
    rolling in-sample window). The parameters it runs were chosen because they gave signals within that many
    months, so their indicators are warm by the window's first bar; and it is the same in both modes."""
    return add_months(out_of_sample_start, -in_sample_months)


def windows(spec: WalkForwardSpec, start: date, end: date) -> list[Window]:
    """The windows over [start, end]; ValueError saying why when not even one fits."""
    found: list[Window] = []
    oos_start = add_months(start, spec.in_sample_months)
    while oos_start <= end:
        oos_end = min(add_months(oos_start, spec.out_of_sample_months) - timedelta(days=1), end)
        if weekdays(oos_start, oos_end) < MIN_WEEKDAYS:
            if found:  # a short tail joins the last window
                last = found[-1]
                found[-1] = Window(last.index, last.in_sample_start, last.in_sample_end, last.out_of_sample_start, end)
            break
        is_start = add_months(oos_start, -spec.in_sample_months) if spec.mode == "rolling" else start
        found.append(Window(len(found), is_start, oos_start - timedelta(days=1), oos_start, oos_end))
        oos_start = oos_end + timedelta(days=1)
    if not found:
        raise ValueError(
            f"the period {start}..{end} has no room for a walk-forward window: {spec.in_sample_months} month(s) in "
            f"sample, then at least {MIN_WEEKDAYS} weekdays out of sample"
        )
    return found


@dataclass(frozen=True)
class WindowCurve:
    """One OOS run's end-of-day portfolio values (None: no signal, or the run failed; the window stays in
    cash, flat over the weekdays `start`..`end` when they are given)."""

    index: int
    dates: list[date] | None
    values: list[float] | None
    start: date | None = None
    end: date | None = None


def stitch(curves: list[WindowCurve], initial_capital: float) -> pd.Series:
    """The chained OOS equity curve (index: dates). Starts from `initial_capital`."""
    import numpy as np  # here, as pandas: the gateway imports this module to start, numpy only to compute
    import pandas as pd

    level = initial_capital
    parts: list[pd.Series] = []
    for curve in sorted(curves, key=lambda c: c.index):
        if not curve.dates or not curve.values:
            if curve.start is not None and curve.end is not None:  # a flat window: in cash, 0%
                parts.append(pd.Series(level, index=pd.bdate_range(curve.start, curve.end), dtype=float))
            continue
        values = np.asarray(curve.values, dtype=float) * (level / initial_capital)
        parts.append(pd.Series(values, index=pd.DatetimeIndex(curve.dates)))
        level = float(values[-1])
    if not parts:
        return pd.Series(dtype=float)
    return pd.concat(parts)


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def summary(curve: pd.Series, initial_capital: float) -> dict[str, float | None]:
    """Headline metrics of a stitched curve, with the engine's conventions (252 days, empyrical)."""
    # here: they cost seconds (empyrical loads scipy), and the gateway imports this module to start
    import empyrical
    import pandas as pd

    if curve.empty:
        return {"total_return": None, "cagr": None, "sharpe_ratio": None, "max_drawdown": None, "volatility": None}
    full = pd.concat([pd.Series([initial_capital], index=[curve.index[0] - pd.Timedelta(days=1)]), curve])
    returns = full.pct_change().dropna()
    total = float(curve.iloc[-1]) / initial_capital - 1.0
    days = (full.index[-1] - full.index[0]).days
    return {
        "total_return": total,
        "cagr": _finite((1.0 + total) ** (365.25 / days) - 1.0) if days > 0 and total > -1.0 else None,
        "sharpe_ratio": _finite(empyrical.sharpe_ratio(returns, risk_free=0.0, period="daily")),
        "max_drawdown": _finite(empyrical.max_drawdown(returns)),
        "volatility": _finite(empyrical.annual_volatility(returns, period="daily")),
    }


def efficiency(pairs: list[tuple[float | None, float | None]]) -> float | None:
    """Walk-forward efficiency: the mean out-of-sample objective over the mean in-sample one (of the chosen
    parameters), over the windows where both are defined; None when there are none or the in-sample mean is 0.
    `pairs`: (in-sample, out-of-sample) per window. About 1: the in-sample results held out of sample."""
    import numpy as np  # here: the gateway imports this module to start, numpy only to compute

    both = [(i, o) for i, o in pairs if i is not None and o is not None]
    if not both:
        return None
    inside = float(np.mean([i for i, _ in both]))
    return _finite(float(np.mean([o for _, o in both])) / inside) if inside != 0 else None


def buy_and_hold(closes: pd.Series, curve: pd.Series, initial_capital: float) -> pd.Series:
    """The benchmark bought with `initial_capital` on the stitched curve's first day and held: its closes
    (index: dates, any order, duplicates allowed) on the curve's dates, carried over days without a close."""
    import pandas as pd  # here: the gateway imports this module to start, pandas only to compute

    if curve.empty or closes.empty:
        return pd.Series(dtype=float)
    prices = closes[~closes.index.duplicated(keep="last")].sort_index()
    prices = prices.reindex(prices.index.union(curve.index)).ffill().reindex(curve.index).dropna()
    if prices.empty:
        return pd.Series(dtype=float)
    return prices / float(prices.iloc[0]) * initial_capital


# A flat window (no signal: in cash) has these metrics; the others (Sharpe, ...) are undefined for it.
FLAT_METRICS = {"total_return": 0.0, "cagr": 0.0, "annualized_return": 0.0, "max_drawdown": 0.0, "volatility": 0.0}


@dataclass(frozen=True)
class OutOfSample:
    """What an out-of-sample window gave: flat (no signal: in cash, 0%) or its run's objective and return."""

    flat: bool
    objective: float | None
    total_return: float | None


def out_of_sample(
    objective_name: str, state: str, objective_value: float | None, total_return: float | None, error: str | None
) -> OutOfSample:
    """The window's outcome from its run's state: a run FAILED for want of a signal is a flat window."""
    if state == SweepChildState.FAILED and is_no_signal(error):
        return OutOfSample(True, FLAT_METRICS.get(objective_name), 0.0)
    return OutOfSample(False, objective_value, total_return)
