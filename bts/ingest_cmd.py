"""`bts ingest csv|ibkr|actions`: load market data and corporate actions through the gateway."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from bts.console import CliError, out
from bts.gateway import Gateway
from bts.options import INGEST_CSV_FLAGS, INGEST_IBKR_FLAGS, TimeframeOpt
from bts.progress import bars, row_errors_table
from shared.contracts.models import Timeframe
from shared.contracts.models.enums import TERMINAL_STATUSES, BacktestStatus

app = typer.Typer(help="Load market data (CSV files, Interactive Brokers history).", no_args_is_help=True)
TERMINAL = TERMINAL_STATUSES

InstrumentOpt = typer.Option(..., "--instrument", "-i", help="instrument id, e.g. AAPL.NASDAQ")
JsonOpt = typer.Option(False, "--json", help="print the final job as JSON")


def follow(gateway: Gateway, job_id: str, label: str, as_json: bool) -> dict[str, Any]:
    """Poll an import job with a progress bar; print the summary; raise when it failed."""
    job: dict[str, Any] = {}
    with bars(rows=True) as progress:
        task = progress.add_task(label, total=None)
        for job in gateway.poll(f"/market-data/import/{job_id}", lambda j: j["status"] in TERMINAL):
            progress.update(task, completed=job["rows_done"], total=job["rows_total"])
    if as_json:
        print(json.dumps(job))
    elif job["status"] == BacktestStatus.COMPLETED:
        out.print(
            f"[green]loaded[/] {job['rows_loaded']} rows of {job['instrument_id']} {job['timeframe']} "
            f"({job['rows_inserted']} new, {job['rows_updated']} changed, {job['rows_unchanged']} unchanged; "
            f"{job['rows_rejected']} rejected)  job {job_id}"
        )
    if not as_json:
        for note in job.get("notes") or []:
            out.print(f"[yellow]note[/] {note}")
    if job["errors"] and not as_json:
        out.print(row_errors_table(job["errors"], job["rows_rejected"] or None))
    if not as_json:
        for line in warning_lines(job.get("warnings") or [], job.get("warning_counts") or {}):
            out.print(f"[yellow]warning[/] {line}", highlight=False)
    if job["status"] == BacktestStatus.FAILED:
        raise CliError(f"import failed: {job['error_message']}")
    return job


def _span(warning: dict[str, Any]) -> str:
    start, end = warning["start"], warning["end"]
    return start if start == end else f"{start}..{end}"


def warning_lines(warnings: list[dict[str, Any]], counts: dict[str, int]) -> list[str]:
    """One line per kind of data-quality finding: how many, and the ones listed (with their detail)."""
    lines = []
    for kind, total in counts.items():
        listed = [w for w in warnings if w["kind"] == kind]
        shown = "; ".join(f"{_span(w)} {w['detail']}" for w in listed)
        more = f" ... and {total - len(listed)} more" if total > len(listed) else ""
        lines.append(f"{kind} x{total}: {shown}{more}")
    return lines


@app.command("csv")
def ingest_csv(
    file: Path = typer.Argument(..., help="CSV file: timestamp,open,high,low,close,volume or a common export"),
    instrument: str = InstrumentOpt,
    timeframe: Timeframe = TimeframeOpt,
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="load valid rows, report the rejects"),
    exchange_time: bool = typer.Option(
        False, "--naive-exchange-time", help="read timestamps without a zone in the exchange's time zone"
    ),
    adjusted: bool = typer.Option(
        False, "--adjusted", help="scale open/high/low/close by the file's Adj Close / Close (the file needs Adj Close)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Upload a CSV file and wait for the ingest service to validate and load it."""
    if not file.is_file():
        raise CliError(f"no such file: {file}")
    if file.stat().st_size == 0:
        raise CliError(f"the file is empty: {file}")
    with Gateway(flags=INGEST_CSV_FLAGS) as gateway:
        accepted = gateway.upload(
            file,
            {
                "instrument_id": instrument,
                "timeframe": timeframe.value,
                "skip_invalid": str(skip_invalid).lower(),
                "naive_timestamps_in_exchange_tz": str(exchange_time).lower(),
                "price_adjustment": "ADJUSTED" if adjusted else "RAW",
            },
        )
        follow(gateway, accepted["job_id"], f"{file.name} -> {instrument}", as_json)


def _utc(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"{option}: expected a date or ISO timestamp such as 2024-01-02 or 2024-01-02T14:30Z, got {text!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command("ibkr")
def ingest_ibkr(
    instrument: str = InstrumentOpt,
    timeframe: Timeframe = TimeframeOpt,
    start: str = typer.Option(..., "--start", help="UTC unless an offset is given, e.g. 2024-01-02"),
    end: str = typer.Option(..., "--end", help="exclusive"),
    as_json: bool = JsonOpt,
) -> None:
    """Fetch history from Interactive Brokers (TWS / IB Gateway at BTS_IB_HOST:BTS_IB_PORT) and load it."""
    lo, hi = _utc(start, "--start"), _utc(end, "--end")
    if hi <= lo:
        raise CliError(f"--end ({hi:%Y-%m-%d %H:%M}) must be after --start ({lo:%Y-%m-%d %H:%M})")
    with Gateway(flags=INGEST_IBKR_FLAGS) as gateway:
        accepted = gateway.post(
            "/market-data/ibkr",
            json={
                "instrument_id": instrument,
                "timeframe": timeframe.value,
                "start": lo.isoformat(),
                "end": hi.isoformat(),
            },
        )
        follow(gateway, accepted["job_id"], f"IB {instrument} {timeframe.value}", as_json)


@app.command("actions")
def ingest_actions(
    file: Path = typer.Argument(..., help="CSV: type,ex_date,ratio,amount (SPLIT with ratio, DIVIDEND with amount)"),
    instrument: str = InstrumentOpt,
    as_json: bool = typer.Option(False, "--json", help="print the actions on record as JSON"),
) -> None:
    """Load an instrument's splits and cash dividends; backtests back-adjust its RAW bars with them."""
    if not file.is_file():
        raise CliError(f"no such file: {file}")
    with Gateway() as gateway:
        actions = gateway.post(
            f"/instruments/{instrument}/corporate-actions",
            content=file.read_bytes(),
            headers={"Content-Type": "text/csv"},
        )
    if as_json:
        print(json.dumps(actions))
        return
    out.print(f"[green]{len(actions)} corporate action(s) on record[/] for {instrument}:")
    for action in actions:
        value = f"ratio {action['ratio']}" if action["type"] == "SPLIT" else f"amount {action['amount']}"
        out.print(f"  {action['ex_date']}  {action['type']:<8} {value}")
