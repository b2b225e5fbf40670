"""The gateway's warm-up: after ready, the walk-forward summary of a tiny curve in a worker thread, so that
empyrical (and scipy under it), which the gateway no longer imports to start, is loaded before a sweep needs it."""

from __future__ import annotations

import asyncio

from shared.contracts.models.walk_forward import summary


async def warm_up() -> None:
    await asyncio.to_thread(exercise)


def exercise() -> dict[str, float | None]:
    """The stitched-curve metrics of four made-up days (their values do not matter)."""
    import pandas as pd

    curve = pd.Series([100.0, 101.0, 100.5, 102.0], index=pd.bdate_range("2024-01-02", periods=4))
    return summary(curve, 100.0)
