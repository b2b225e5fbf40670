"""Bundled sample data, generated deterministically: 2019-2024 daily bars for a few symbols and SPY.

Synthetic (geometric Brownian motion with a seed per symbol) so the demo needs no download and gives
the same numbers on every machine. Sessions follow the NASDAQ calendar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from shared.domain.calendars import calendar_for

# symbol -> (seed, start price, annual drift, annual volatility)
SYMBOLS: Final[dict[str, tuple[int, float, float, float]]] = {
    "AAPL": (1, 39.5, 0.25, 0.30),
    "MSFT": (2, 101.0, 0.22, 0.27),
    "GOOG": (3, 52.0, 0.18, 0.29),
    "SPY": (4, 250.0, 0.12, 0.18),
}


def daily_bars(symbol: str, start: str = "2019-01-01", end: str = "2024-12-31") -> pd.DataFrame:
    seed, price, drift, vol = SYMBOLS[symbol]
    sessions = calendar_for("NASDAQ").sessions_in_range(start, end)
    rng = np.random.default_rng(seed)
    daily = rng.normal(drift / 252 - vol**2 / 504, vol / np.sqrt(252), len(sessions))
    close = np.round(price * np.exp(np.cumsum(daily)), 2)
    open_ = np.round(close * np.exp(rng.normal(0, vol / np.sqrt(252) / 3, len(sessions))), 2)
    spread = np.abs(rng.normal(0, vol / np.sqrt(252) / 2, len(sessions))) * close
    return pd.DataFrame(
        {
            "timestamp": sessions.strftime("%Y-%m-%d"),
            "open": open_,
            "high": np.round(np.maximum(open_, close) + spread, 2),
            "low": np.round(np.maximum(np.minimum(open_, close) - spread, 0.01), 2),
            "close": close,
            "volume": rng.integers(5_000_000, 50_000_000, len(sessions)),
        }
    )


def write_sample_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for symbol in SYMBOLS:
        path = folder / f"{symbol}.csv"
        daily_bars(symbol).to_csv(path, index=False)
        paths[symbol] = path
    return paths
