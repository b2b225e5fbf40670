"""`bts backtest submit|status|wait|result|list|cancel|delete|export|import`: run backtests through the
gateway, read them back, stop, remove and share them. A BACKTEST_ID may be a unique prefix of 8+ characters."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from bts.console import CliError, out
from bts.gateway import Gateway
from bts.ids import page_note, resolve_id
from bts.options import (
    BACKTEST_FLAGS,
    BenchmarkOpt,
    CapitalOpt,
    CommissionOpt,
    EndOpt,
    InstrumentsOpt,
    JsonOpt,
    PositionSizeOpt,
    StartOpt,
    TimeframeOpt,
    configuration_body,
)
from bts.progress import bars, metrics_table
from bts.strategy_cmd import resolve
from shared.contracts.models import Timeframe
from shared.contracts.models.enums import TERMINAL_STATUSES, BacktestStatus, PriceAdjustment

app = typer.Typer(help="Backtests: submit, follow, read results.", no_args_is_help=True)
TERMINAL = TERMINAL_STATUSES
IdArg = typer.Argument(..., help="backtest id, or a unique prefix of at least 8 characters")


def backtest_id_of(gateway: Gateway, text: str) -> str:
    return resolve_id(gateway, "backtests", "backtest", text)


def wait_all(gateway: Gateway, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Progress bars for several backtests until each is COMPLETED or FAILED; returns the final statuses."""
    final: dict[str, dict[str, Any]] = {}
    with bars() as progress:
        tasks = {bid: progress.add_task(label, total=100) for bid, label in ids.items()}
        while len(final) < len(ids):
            for bid, task in tasks.items():
                if bid in final:
                    continue
                status = gateway.get(f"/backtests/{bid}")
                progress.update(
                    task, completed=status["progress_pct"], description=f"{ids[bid]} {status['status'].lower()}"
                )
                if status["status"] in TERMINAL:
                    final[bid] = status
            if len(final) < len(ids):
                time.sleep(0.3)
    return final


@app.command("submit")
def submit(
    strategy: str = typer.Option(..., "--strategy", "-s", help="strategy name or id (must be ACTIVE)"),
    instruments: str = InstrumentsOpt,
    start: str = StartOpt,
    end: str = EndOpt,
    capital: str = CapitalOpt,
    position_size_pct: str = PositionSizeOpt,
    commission: str = CommissionOpt,
    benchmark: str = BenchmarkOpt,
    price_adjustment: PriceAdjustment = typer.Option(
        PriceAdjustment.SPLITS, "--price-adjustment", help="back-adjust RAW bars for corporate actions"
    ),
    timeframe: Timeframe = TimeframeOpt,
    wait: bool = typer.Option(False, "--wait", help="wait with a progress bar, then print the metrics"),
    as_json: bool = JsonOpt,
) -> None:
    """Submit a backtest; prints its id (202: queued)."""
    body = configuration_body(instruments, start, end, capital, position_size_pct, commission, benchmark)
    body["price_adjustment"] = price_adjustment.value
    with Gateway(flags=BACKTEST_FLAGS) as gateway:
        body["strategy_id"] = resolve(gateway, strategy)["id"]
        accepted = gateway.post("/backtests", json=body, params={"timeframe": timeframe.value})
        if not wait:
            print(json.dumps(accepted)) if as_json else out.print(f"backtest {accepted['id']} {accepted['status']}")
            return
        final = wait_all(gateway, {accepted["id"]: strategy})[accepted["id"]]
        _show_result(gateway, accepted["id"], final, as_json)


@app.command("status")
def status(backtest_id: str = IdArg, as_json: bool = JsonOpt) -> None:
    """Status, progress and ETA of a backtest (the error when it FAILED)."""
    with Gateway() as gateway:
        backtest_id = backtest_id_of(gateway, backtest_id)
        current = gateway.get(f"/backtests/{backtest_id}")
    if as_json:
        print(json.dumps(current))
    else:
        eta = f", ETA {current['estimated_completion']}" if current.get("estimated_completion") else ""
        error = f": {current['error_message']}" if current.get("error_message") else ""
        out.print(f"{backtest_id} {current['status']} {current['progress_pct']:.0f}%{eta}{error}")


@app.command("wait")
def wait_cmd(backtest_id: str = IdArg, as_json: bool = JsonOpt) -> None:
    """Wait with a progress bar; exit 0 when COMPLETED, 1 when FAILED."""
    with Gateway() as gateway:
        backtest_id = backtest_id_of(gateway, backtest_id)
        final = wait_all(gateway, {backtest_id: backtest_id[:8]})[backtest_id]
        _show_result(gateway, backtest_id, final, as_json)


def _show_result(gateway: Gateway, backtest_id: str, final: dict[str, Any], as_json: bool) -> None:
    if final["status"] == BacktestStatus.FAILED:
        if as_json:
            print(json.dumps(final))
        raise CliError(f"backtest {backtest_id} FAILED: {final['error_message']}")
    result = gateway.get(f"/backtests/{backtest_id}/result")
    if as_json:
        print(json.dumps(result))
        return
    out.print(metrics_table(f"backtest {backtest_id}", [("result", result["metrics"], result["trades_count"])]))
    for warning in result.get("warnings") or []:
        out.print(f"[yellow]warning:[/] {warning}")


@app.command("result")
def result_cmd(backtest_id: str = IdArg, as_json: bool = JsonOpt) -> None:
    """Metrics of a finished backtest and the paths of its reports."""
    with Gateway() as gateway:
        backtest_id = backtest_id_of(gateway, backtest_id)
        current = gateway.get(f"/backtests/{backtest_id}")
        if current["status"] not in TERMINAL:
            raise CliError(f"backtest {backtest_id} is {current['status']}: `bts backtest wait {backtest_id}`")
        _show_result(gateway, backtest_id, current, as_json)
        if not as_json:
            for report in gateway.get(f"/backtests/{backtest_id}/reports"):
                out.print(f"{report['report_type']:<5} {report['download_url']}", soft_wrap=True)


@app.command("list")
def list_cmd(
    status_filter: str = typer.Option(None, "--status", help="PENDING, RUNNING, COMPLETED or FAILED"),
    strategy: str = typer.Option(None, "--strategy", "-s", help="only runs of this strategy (name or id)"),
    instrument: str = typer.Option(None, "--instrument", help="only runs that traded this instrument"),
    since: str = typer.Option(None, "--since", help="submitted on or after YYYY-MM-DD"),
    until: str = typer.Option(None, "--until", help="submitted on or before YYYY-MM-DD"),
    limit: int = typer.Option(50, "--limit", help="rows per page (at most 500)"),
    offset: int = typer.Option(0, "--offset", help="rows to skip"),
    as_json: bool = JsonOpt,
) -> None:
    """Your backtests, newest first (also those published straight to Kafka), with their full ids."""
    params: dict[str, Any] = {"limit": limit, "offset": offset, "instrument_id": instrument, "since": since}
    params |= {"until": until, "status": status_filter.upper() if status_filter else None}
    with Gateway(flags=LIST_FLAGS) as gateway:
        if strategy:
            params["strategy_id"] = resolve(gateway, strategy)["id"]
        page = gateway.get("/backtests", params={k: v for k, v in params.items() if v is not None})
    if as_json:
        print(json.dumps(page))
        return
    table = Table()
    table.add_column("id", no_wrap=True, min_width=36)
    for column in ("status", "progress", "strategy", "instruments", "period", "submitted"):
        table.add_column(column)
    for r in page["items"]:
        table.add_row(
            r["id"],
            r["status"],
            f"{r['progress_pct']:.0f}%",
            r.get("strategy_type") or "",
            ",".join(r.get("instrument_ids") or []),
            f"{r.get('start_date')}..{r.get('end_date')}",
            r["submitted_at"][:19],
        )
    out.print(table)
    note = page_note(page)
    if note:
        out.print(note)


LIST_FLAGS = {
    "query.status": "--status",
    "query.instrument_id": "--instrument",
    "query.since": "--since",
    "query.until": "--until",
    "query.limit": "--limit",
    "query.offset": "--offset",
}


@app.command("cancel")
def cancel_cmd(backtest_id: str = IdArg, as_json: bool = JsonOpt) -> None:
    """Stop a PENDING or RUNNING backtest: it ends FAILED "cancelled by the user", with no trades kept."""
    with Gateway() as gateway:
        backtest_id = backtest_id_of(gateway, backtest_id)
        accepted = gateway.post(f"/backtests/{backtest_id}/cancel")
    print(json.dumps(accepted)) if as_json else out.print(f"backtest {backtest_id}: cancel requested")


@app.command("delete")
def delete_cmd(backtest_id: str = IdArg, as_json: bool = JsonOpt) -> None:
    """Delete a finished backtest with its result, trades, snapshots and reports."""
    with Gateway() as gateway:
        backtest_id = backtest_id_of(gateway, backtest_id)
        gateway.request("DELETE", f"/backtests/{backtest_id}")
    print(json.dumps({"id": backtest_id, "deleted": True})) if as_json else out.print(f"backtest {backtest_id} deleted")


@app.command("export")
def export_cmd(
    backtest_id: str = IdArg,
    path: Path = typer.Option(None, "--out", "-o", help="zip to write (default ./backtest-<id>.zip)"),
) -> None:
    """Write a COMPLETED backtest as a zip (report HTML, CSVs, JSON, and bundle.json with every file's SHA-256)
    that `bts backtest import` shows on another installation."""
    with Gateway() as gateway:
        backtest_id = backtest_id_of(gateway, backtest_id)
        content = gateway.request("GET", f"/backtests/{backtest_id}/export").content
    target = path or Path(f"backtest-{backtest_id}.zip")
    try:
        target.write_bytes(content)
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror}") from exc
    out.print(f"backtest {backtest_id} exported to {target} ({len(content)} bytes)")


@app.command("import")
def import_cmd(
    path: Path = typer.Argument(..., help="a zip of `bts backtest export`"), as_json: bool = JsonOpt
) -> None:
    """Show a backtest exported elsewhere: checked against its bundle.json, then listed with yours (read-only)."""
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    with Gateway() as gateway, path.open("rb") as file:
        accepted = gateway.post("/backtests/import", files={"file": (path.name, file, "application/zip")})
        if as_json:
            print(json.dumps(accepted))
            return
        out.print(f"backtest {accepted['id']} imported (from {accepted['imported_from']}, read-only)")
        result = gateway.get(f"/backtests/{accepted['id']}/result")
    out.print(metrics_table(f"backtest {accepted['id']}", [("result", result["metrics"], result["trades_count"])]))
