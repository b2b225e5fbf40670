"""Command-line options that several commands share, and the backtest configuration they spell."""

from __future__ import annotations

import json
from typing import Any, Final

import typer

from bts.console import CliError
from shared.contracts.models import Timeframe

JsonOpt = typer.Option(False, "--json", help="machine-readable output")

# The configuration of a backtest (and of each child of a sweep).
InstrumentsOpt = typer.Option(..., "--instruments", "-i", help="comma-separated, e.g. AAPL.NASDAQ,MSFT.NASDAQ")
StartOpt = typer.Option(..., "--start", help="first day, YYYY-MM-DD")
EndOpt = typer.Option(..., "--end", help="last day, YYYY-MM-DD")
CapitalOpt = typer.Option("100000", "--capital", help="initial capital")
PositionSizeOpt = typer.Option("1", "--position-size-pct", help="percent of equity per entry (0.1..10)")
CommissionOpt = typer.Option(None, "--commission", help='JSON, e.g. {"type": "PERCENT", "percent": "0.05"}')
TimeframeOpt = typer.Option(Timeframe.BAR_DAILY, "--timeframe", "-t", help="bar size")
BenchmarkOpt = typer.Option("SPY", "--benchmark", help="benchmark: an instrument id (SPY.ARCA) or a symbol listed once")


# The request field each option sets, per command: a problem+json error names the field, the CLI says the flag.
CONFIGURATION_FLAGS: Final[dict[str, str]] = {
    "body.instrument_ids": "--instruments",
    "body.start_date": "--start",
    "body.end_date": "--end",
    "body.initial_capital": "--capital",
    "body.position_size_pct": "--position-size-pct",
    "body.commission_model": "--commission",
    "body.benchmark_symbol": "--benchmark",
    "body.strategy_id": "--strategy",
}
BACKTEST_FLAGS: Final = {**CONFIGURATION_FLAGS, "query.timeframe": "--timeframe"}
SWEEP_FLAGS: Final = {
    **CONFIGURATION_FLAGS,
    "body.timeframe": "--timeframe",
    "body.strategy_type": "--type",
    "body.grid": "--grid",
    "body.ranges": "--range",
    "body.samples": "--samples",
    "body.seed": "--seed",
    "body.parameters": "--param",
    "body.objective": "--objective",
    "body.direction": "--direction",
    "body.heatmap": "--heatmap",
    "body.prescreen": "--prescreen-top",
    "body.walk_forward": "--walk-forward",
    "body.report_top": "--report-top",
    "body.name": "--name",
}
INGEST_CSV_FLAGS: Final = {
    "body.instrument_id": "--instrument",
    "body.timeframe": "--timeframe",
    "body.file": "FILE",
    "body.skip_invalid": "--skip-invalid",
    "body.naive_timestamps_in_exchange_tz": "--naive-exchange-time",
}
INGEST_IBKR_FLAGS: Final = {
    "body.instrument_id": "--instrument",
    "body.timeframe": "--timeframe",
    "body.start": "--start",
    "body.end": "--end",
}


def flag_for(field: str, flags: dict[str, str]) -> str:
    """The CLI flag that set request field `field` ('body.instrument_ids.1' -> '--instruments (item 1)'); the
    field itself when no option sets it."""
    for name, flag in flags.items():
        if field == name:
            return flag
        if field.startswith(name + "."):
            rest = field.removeprefix(name + ".")
            return f"{flag} ({'item ' if rest.isdigit() else ''}{rest})"
    return field


def configuration_body(
    instruments: str, start: str, end: str, capital: str, position_size_pct: str, commission: str | None, benchmark: str
) -> dict[str, Any]:
    """The request fields of a backtest configuration, as the gateway takes them (it checks the values)."""
    body: dict[str, Any] = {
        "instrument_ids": [i.strip() for i in instruments.split(",") if i.strip()],
        "start_date": start,
        "end_date": end,
        "initial_capital": capital,
        "position_size_pct": position_size_pct,
        "benchmark_symbol": benchmark,
    }
    if commission:
        try:
            body["commission_model"] = json.loads(commission)
        except ValueError as exc:
            raise CliError(f"--commission must be JSON: {exc}") from exc
    return body
