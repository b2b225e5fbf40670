"""Command-line options that several commands share, and the backtest configuration they spell."""

from __future__ import annotations

import json
from typing import Any

import typer

from bts.console import CliError

JsonOpt = typer.Option(False, "--json", help="machine-readable output")

# The configuration of a backtest (and of each child of a sweep).
InstrumentsOpt = typer.Option(..., "--instruments", "-i", help="comma-separated, e.g. AAPL.NASDAQ,MSFT.NASDAQ")
StartOpt = typer.Option(..., "--start", help="first day, YYYY-MM-DD")
EndOpt = typer.Option(..., "--end", help="last day, YYYY-MM-DD")
CapitalOpt = typer.Option("100000", "--capital", help="initial capital")
PositionSizeOpt = typer.Option("1", "--position-size-pct", help="percent of equity per entry (0.1..10)")
CommissionOpt = typer.Option(None, "--commission", help='JSON, e.g. {"type": "PERCENT", "percent": "0.05"}')
BenchmarkOpt = typer.Option("SPY", "--benchmark", help="benchmark: an instrument id (SPY.ARCA) or a symbol listed once")


def configuration_body(instruments: str, start: str, end: str, capital: str, position_size_pct: str,
                       commission: str | None, benchmark: str) -> dict[str, Any]:  # fmt: skip
    """The request fields of a backtest configuration, as the gateway takes them (it checks the values)."""
    body: dict[str, Any] = {"instrument_ids": [i.strip() for i in instruments.split(",") if i.strip()],
                            "start_date": start, "end_date": end, "initial_capital": capital,
                            "position_size_pct": position_size_pct, "benchmark_symbol": benchmark}  # fmt: skip
    if commission:
        try:
            body["commission_model"] = json.loads(commission)
        except ValueError as exc:
            raise CliError(f"--commission must be JSON: {exc}") from exc
    return body
