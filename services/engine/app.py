"""Engine service: backtest.requested -> NautilusTrader run -> results, trades, snapshots, backtest.completed.

Wiring only: what runs in this process and with which settings.
"""

from __future__ import annotations

from pathlib import Path

from shared.runtime.service import Component, ServiceContext, run_worker

SERVICE = "engine"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


async def build_components(ctx: ServiceContext) -> list[Component]:
    return []


def main() -> None:
    run_worker(SERVICE, MIGRATIONS_DIR, build_components)
