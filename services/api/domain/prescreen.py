"""A vectorised pre-screen (pure numpy): rank a sweep's combinations before any of them runs on Nautilus.

The strategy type gives the signal: its `screen` (bts_sdk.Strategy.screen, found through the registry)
returns, per instrument, the target positions of every combination at once (SMA_CROSSOVER's is the
engine's crossing rule over arrays). This module turns them into daily portfolio returns, filled at each
bar's close, and scores them with the sweep's objective. What it leaves out, so its numbers are estimates
for ranking only: each position is a constant `position_size_pct` of equity (the engine sizes in whole
shares at entry), commission is a fraction of the notional without the per-order minimum, and margin
limits are ignored.

All combinations are evaluated at once, a block at a time, as (combinations x days) arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from shared.contracts.models.objectives import Objective
from shared.strategy_types import StrategyParameters, UnknownStrategyType, get_strategy_type, registry

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from bts_sdk import Strategy

TRADING_DAYS: Final = 252
BLOCK: Final = 256  # combinations per block: (256 x days x instruments) floats stay small
SUPPORTED_OBJECTIVES: Final = frozenset(
    {"total_return", "cagr", "annualized_return", "sharpe_ratio", "sortino_ratio", "volatility", "max_drawdown"}
)


@dataclass(frozen=True)
class Market:
    """Daily closes (index: session dates, one column per instrument; NaN where an instrument has no bar)
    and the trading costs as fractions of the notional traded."""

    closes: pd.DataFrame
    weight: float  # position size as a fraction of equity
    cost_per_price: dict[str, float]  # money per share traded (slippage ticks x tick, per-share commission)
    cost_fraction: float  # fraction of the notional per trade (percent commission)


def _block(market: Market, strategy: type[Strategy[Any]], combos: list[StrategyParameters]) -> np.ndarray:
    """(combos x days) daily portfolio returns."""
    import numpy as np  # here, as pandas in `scores`: not on the gateway's way to ready

    closes = market.closes
    days = len(closes)
    returns = np.zeros((len(combos), days))
    for column in closes.columns:
        series = closes[column]
        present = series.notna().to_numpy()
        prices = series.to_numpy()[present]
        if len(prices) < 2:
            continue
        own = strategy.screen(prices, combos)  # on the instrument's own bars
        position = np.zeros((len(combos), days))
        position[:, present] = own
        last_bar = np.maximum.accumulate(np.where(present, np.arange(days), -1))  # hold between own bars
        held = np.where(last_bar >= 0, position[:, np.maximum(last_bar, 0)], 0.0)
        filled = series.ffill().to_numpy()
        change = np.zeros(days)
        change[1:] = np.where(np.isnan(filled[:-1]) | np.isnan(filled[1:]), 0.0, filled[1:] / filled[:-1] - 1.0)
        returns[:, 1:] += market.weight * held[:, :-1] * change[1:]
        traded = np.abs(np.diff(held, axis=1, prepend=0.0))
        per_price = np.divide(
            market.cost_per_price.get(str(column), 0.0),
            filled,
            out=np.zeros(days),
            where=~np.isnan(filled) & (filled > 0),
        )
        returns -= market.weight * traded * (per_price + market.cost_fraction)
    return returns


def metric(returns: np.ndarray, name: str, calendar_days: int) -> np.ndarray:
    """One metric per row of daily returns, with empyrical's conventions (252 days, ddof 1)."""
    import numpy as np  # here, as in `_block`

    growth = np.cumprod(1.0 + returns, axis=1)
    total = growth[:, -1] - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "total_return":
            return total
        if name == "cagr":
            return np.where(total > -1, (1.0 + total) ** (365.25 / max(calendar_days, 1)) - 1.0, np.nan)
        if name == "annualized_return":
            return np.where(total > -1, (1.0 + total) ** (TRADING_DAYS / returns.shape[1]) - 1.0, np.nan)
        std = returns.std(axis=1, ddof=1)
        if name == "volatility":
            volatility: np.ndarray = std * np.sqrt(TRADING_DAYS)
            return volatility
        if name == "sharpe_ratio":
            return np.where(std > 0, returns.mean(axis=1) / std * np.sqrt(TRADING_DAYS), np.nan)
        if name == "sortino_ratio":
            downside = np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2, axis=1))
            return np.where(downside > 0, returns.mean(axis=1) / downside * np.sqrt(TRADING_DAYS), np.nan)
        if name == "max_drawdown":
            levels = np.concatenate([np.ones((len(returns), 1)), growth], axis=1)
            deepest: np.ndarray = (levels / np.maximum.accumulate(levels, axis=1) - 1.0).min(axis=1)
            return deepest
    raise ValueError(f"the pre-screen cannot estimate {name}; it can: {', '.join(sorted(SUPPORTED_OBJECTIVES))}")


def _screened(strategy_type: str) -> type[Strategy[Any]] | None:
    """The registered type's Strategy class if it has a vectorised screen."""
    from bts_sdk import StrategyClassError, has_screen, strategy_class  # the SDK (numpy): not on the way to ready

    try:
        found = strategy_class(get_strategy_type(strategy_type))
    except (UnknownStrategyType, StrategyClassError):
        return None
    return found if has_screen(found) else None


def supports(strategy_type: str) -> bool:
    return _screened(strategy_type) is not None


def screened_types() -> list[str]:
    """The registered strategy types that have a vectorised screen."""
    return [name for name in registry() if supports(name)]


def scores(market: Market, strategy_type: str, combos: list[dict[str, Any]], objective: Objective) -> list[float]:
    """The estimated objective of every combination (NaN where undefined)."""
    import pandas as pd  # here (a worker thread runs it): not on the gateway's way to ready

    strategy = _screened(strategy_type)
    if strategy is None:
        raise ValueError(f"no vectorised pre-screen for {strategy_type}")
    spec = get_strategy_type(strategy_type)
    typed = [spec.validate(c) for c in combos]
    index = pd.DatetimeIndex(market.closes.index)
    calendar_days = (index[-1] - index[0]).days + 1 if len(index) else 0
    found: list[float] = []
    for start in range(0, len(combos), BLOCK):
        block = _block(market, strategy, typed[start : start + BLOCK])
        found.extend(float(v) for v in metric(block, objective.metric, calendar_days))
    return found


def top_k(values: list[float], objective: Objective, k: int) -> list[int]:
    """Indices of the k best estimates (undefined ones last; ties: the earlier combination first)."""
    keyed = sorted(
        range(len(values)), key=lambda i: (*objective.sort_key(None if math.isnan(values[i]) else values[i]), i)
    )
    return keyed[:k]
