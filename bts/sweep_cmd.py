"""`bts sweep submit|status|wait|result|list`: parameter sweeps and walk-forward runs through the gateway."""

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
    SWEEP_FLAGS,
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
from bts.progress import bars, num, pct
from bts.strategy_cmd import parse_params, resolve
from shared.contracts.models import Timeframe
from shared.contracts.models.enums import TERMINAL_STATUSES, BacktestStatus

app = typer.Typer(help="Parameter sweeps (grid or random search) and walk-forward analysis.", no_args_is_help=True)
TERMINAL = TERMINAL_STATUSES
IdArg = typer.Argument(..., help="sweep id, or a unique prefix of at least 8 characters")


def sweep_id_of(gateway: Gateway, text: str) -> str:
    return resolve_id(gateway, "sweeps", "sweep", text)


HEADLINE = [("total_return", "return", pct), ("sharpe_ratio", "Sharpe", num), ("max_drawdown", "max DD", pct)]
STRATEGY_HELP = "an ACTIVE strategy of yours (name or id): its parameters are the fixed ones"
PRESCREEN_HELP = "rank every combination with its type's vectorised screen (e.g. SMA_CROSSOVER), run only the best K"


def _values(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_grid(pairs: list[str]) -> dict[str, list[Any]]:
    """`name=v1,v2,...` pairs; each value read as JSON when it parses (numbers, booleans), else as text."""
    grid: dict[str, list[Any]] = {}
    for pair in pairs:
        name, sep, values = pair.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise CliError(f"--grid expects name=value,value,..., got {pair!r}")
        grid[name.strip()] = [_values(v.strip()) for v in values.split(",") if v.strip()]
    return grid


def parse_ranges(pairs: list[str]) -> dict[str, dict[str, float]]:
    """`name=low:high` pairs."""
    ranges: dict[str, dict[str, float]] = {}
    for pair in pairs:
        name, sep, bounds = pair.partition("=")
        low, colon, high = bounds.partition(":")
        try:
            ranges[name.strip()] = {"low": float(low), "high": float(high)}
        except ValueError:
            colon = ""
        if not sep or not colon or not name.strip():
            raise CliError(f"--range expects name=low:high (numbers), got {pair!r}")
    return ranges


def parse_walk_forward(text: str | None, anchored: bool) -> dict[str, Any] | None:
    if text is None:
        return None
    months = text.split(":")
    if len(months) != 2 or not all(m.strip().isdigit() for m in months):
        raise CliError(f"--walk-forward expects IN_SAMPLE_MONTHS:OUT_OF_SAMPLE_MONTHS, e.g. 24:6, got {text!r}")
    return {
        "in_sample_months": int(months[0]),
        "out_of_sample_months": int(months[1]),
        "mode": "anchored" if anchored else "rolling",
    }


@app.command("submit")
def submit(
    strategy: str = typer.Option(None, "--strategy", "-s", help=STRATEGY_HELP),
    strategy_type: str = typer.Option(None, "--type", help="or a strategy type, e.g. SMA_CROSSOVER"),
    grid: list[str] = typer.Option([], "--grid", "-g", help="name=v1,v2,... : every combination runs; repeatable"),
    ranges: list[str] = typer.Option([], "--range", "-r", help="name=low:high for random search; repeatable"),
    samples: int = typer.Option(None, "--samples", help="random search: combinations to draw"),
    seed: int = typer.Option(None, "--seed", help="random search: the generator's seed (reproducible)"),
    param: list[str] = typer.Option([], "--param", "-p", help="a fixed parameter name=value; repeatable"),
    instruments: str = InstrumentsOpt,
    start: str = StartOpt,
    end: str = EndOpt,
    capital: str = CapitalOpt,
    position_size_pct: str = PositionSizeOpt,
    commission: str = CommissionOpt,
    benchmark: str = BenchmarkOpt,
    timeframe: Timeframe = TimeframeOpt,
    objective: str = typer.Option("sharpe_ratio", "--objective", help="any metric of the metrics JSON"),
    direction: str = typer.Option(None, "--direction", help="maximize or minimize (default: the metric's own)"),
    heatmap: str = typer.Option(None, "--heatmap", help="two swept parameters for the report's heatmap: a,b"),
    prescreen_top: int = typer.Option(None, "--prescreen-top", help=PRESCREEN_HELP),
    walk_forward: str = typer.Option(None, "--walk-forward", help="IN:OUT months, e.g. 24:6 (rolling windows)"),
    anchored: bool = typer.Option(False, "--anchored", help="walk-forward: in-sample windows all start at --start"),
    report_top: int = typer.Option(10, "--report-top", help="the best children that get a full report"),
    name: str = typer.Option(None, "--name", help="a label for the sweep"),
    wait: bool = typer.Option(False, "--wait", help="wait with a progress bar, then print the leaderboard"),
    as_json: bool = JsonOpt,
) -> None:
    """Submit a sweep, e.g. `bts sweep submit --type SMA_CROSSOVER -g fast_period=5,10,20 -g slow_period=50,100
    -i AAPL.NASDAQ --start 2019-01-02 --end 2024-12-31 --wait`."""
    if (strategy is None) == (strategy_type is None):
        raise CliError("give exactly one of --strategy (a stored strategy) and --type (a strategy type)")
    body: dict[str, Any] = {
        "grid": parse_grid(grid),
        "ranges": parse_ranges(ranges),
        "parameters": parse_params(param),
        **configuration_body(instruments, start, end, capital, position_size_pct, commission, benchmark),
        "objective": objective,
        "report_top": report_top,
        "timeframe": timeframe.value,
    }
    optional = {
        "samples": samples,
        "seed": seed,
        "direction": direction,
        "name": name,
        "heatmap": [h.strip() for h in heatmap.split(",")] if heatmap else None,
        "prescreen": {"top_k": prescreen_top} if prescreen_top is not None else None,
        "walk_forward": parse_walk_forward(walk_forward, anchored),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    with Gateway(flags=SWEEP_FLAGS) as gateway:
        if strategy is not None:
            body["strategy_id"] = resolve(gateway, strategy)["id"]
        else:
            body["strategy_type"] = strategy_type
        accepted = gateway.post("/sweeps", json=body)
        if not wait:
            if as_json:
                print(json.dumps(accepted))
            else:
                skipped = f", {accepted['skipped']} skipped" if accepted["skipped"] else ""
                seeded = f", seed {accepted['seed']}" if accepted.get("seed") is not None else ""
                out.print(
                    f"sweep {accepted['id']} {accepted['status']}: {accepted['combinations']} combinations"
                    f"{skipped}, {accepted['total']} backtests{seeded}"
                )
            return
        final = follow(gateway, accepted["id"])
        _show(gateway, final, as_json)


def follow(gateway: Gateway, sweep_id: str) -> dict[str, Any]:
    """A progress bar of done/total until the sweep finishes; returns its last state."""
    with bars(rows=True) as progress:
        task = progress.add_task(f"sweep {sweep_id[:8]}", total=None)
        while True:
            current: dict[str, Any] = gateway.get(f"/sweeps/{sweep_id}", params={"limit": 0})
            eta = current.get("estimated_completion")
            failed = f" {current['failed']} failed" if current["failed"] else ""
            progress.update(
                task,
                total=current["total"],
                completed=current["done"],
                description=f"sweep {sweep_id[:8]}{failed}" + (f" ETA {eta[11:19]}" if eta else ""),
            )
            if current["status"] in TERMINAL:
                return current
            time.sleep(0.5)


def _leaderboard(sweep: dict[str, Any]) -> Table:
    metric = sweep["objective"]
    table = Table(
        title=f"{sweep.get('name') or 'sweep ' + sweep['id'][:8]}: best {metric} first ({sweep['direction']})"
    )
    headline = [(k, label, fmt) for k, label, fmt in HEADLINE if k != metric]
    for column in ("#", "parameters", metric, *(label for _, label, _ in headline), "trades", "backtest"):
        table.add_column(column, justify="left" if column in ("parameters", "backtest") else "right")
    for row in sweep["leaderboard"]:
        params = ", ".join(f"{k}={v}" for k, v in row["parameters"].items() if k != "allow_short" or v)
        window = f" (w{row['window_index']})" if row.get("window_index") is not None else ""
        value = num(row["objective"], 4) if row["status"] == BacktestStatus.COMPLETED else row["status"].lower()
        table.add_row(
            str(row["rank"]),
            params + window,
            value,
            *(fmt(row[k]) for k, _, fmt in headline),
            str(row["trades_count"] if row["trades_count"] is not None else "-"),
            str(row["backtest_id"] or "")[:8],
        )
    return table


def _windows(sweep: dict[str, Any]) -> Table:
    walk = sweep["walk_forward"]
    metric = sweep["objective"]
    efficiency = walk.get("efficiency")  # out-of-sample / in-sample objective
    table = Table(
        title=f"walk-forward ({walk['mode']}, {walk['in_sample_months']} months in sample, "
        f"{walk['out_of_sample_months']} out; efficiency {num(efficiency)})"
    )
    for column in ("window", "out of sample", "best in sample", f"IS {metric}", f"OOS {metric}", "OOS return"):
        table.add_column(column, justify="left" if column in ("out of sample", "best in sample") else "right")
    for w in walk["windows"]:
        params = ", ".join(f"{k}={v}" for k, v in (w["best_parameters"] or {}).items() if k != "allow_short" or v)
        table.add_row(
            str(w["index"]),
            f"{w['out_of_sample_start']}..{w['out_of_sample_end']}",
            params or "-",
            num(w["in_sample_objective"], 4),
            num(w["out_of_sample_objective"], 4),
            ("flat, no signal: " if w.get("out_of_sample_status") == "FLAT" else "") + pct(w["out_of_sample_return"]),
        )
    return table


def _show(gateway: Gateway, final: dict[str, Any], as_json: bool, limit: int = 10) -> None:
    sweep = gateway.get(f"/sweeps/{final['id']}", params={"limit": limit})
    if as_json:
        print(json.dumps(sweep))
    else:
        out.print(_leaderboard(sweep))
        if sweep.get("walk_forward"):
            out.print(_windows(sweep))
            stitched = sweep["walk_forward"].get("stitched") or {}
            if stitched:
                out.print(
                    f"stitched out of sample: return {pct(stitched.get('total_return'))}, "
                    f"Sharpe {num(stitched.get('sharpe_ratio'))}, "
                    f"max DD {pct(stitched.get('max_drawdown'))}"
                )
        out.print(f"{sweep['done']}/{sweep['total']} backtests, {sweep['failed']} failed")
        if sweep.get("report_url"):
            out.print(f"report: {sweep['report_url']}", soft_wrap=True)
        elif sweep["status"] in TERMINAL:
            out.print(f"report: being written; `bts sweep result {sweep['id']} --save sweep.html` fetches it")
    if sweep["status"] == BacktestStatus.FAILED:
        raise CliError(f"sweep {sweep['id']} FAILED: {sweep.get('error_message') or 'see its children'}")


@app.command("status")
def status(sweep_id: str = IdArg, as_json: bool = JsonOpt) -> None:
    """Done/failed/total, ETA and the best five so far."""
    with Gateway() as gateway:
        sweep_id = sweep_id_of(gateway, sweep_id)
        current = gateway.get(f"/sweeps/{sweep_id}", params={"limit": 5})
    if as_json:
        print(json.dumps(current))
        return
    eta = f", ETA {current['estimated_completion']}" if current.get("estimated_completion") else ""
    out.print(
        f"sweep {sweep_id} {current['status']}: {current['done']}/{current['total']} done, {current['failed']} "
        f"failed, {current['running']} running{eta}"
    )
    if current["leaderboard"]:
        out.print(_leaderboard(current))


@app.command("wait")
def wait_cmd(
    sweep_id: str = IdArg,
    limit: int = typer.Option(10, "--limit", help="leaderboard rows"),
    as_json: bool = JsonOpt,
) -> None:
    """Wait with a progress bar; exit 0 when COMPLETED, 1 when FAILED."""
    with Gateway() as gateway:
        sweep_id = sweep_id_of(gateway, sweep_id)
        final = follow(gateway, sweep_id)
        _show(gateway, final, as_json, limit)


@app.command("result")
def result_cmd(
    sweep_id: str = IdArg,
    limit: int = typer.Option(20, "--limit", help="leaderboard rows"),
    save: Path = typer.Option(None, "--save", help="write the HTML report to this file"),
    as_json: bool = JsonOpt,
) -> None:
    """The leaderboard of a finished sweep (and its walk-forward windows), and its report."""
    with Gateway() as gateway:
        sweep_id = sweep_id_of(gateway, sweep_id)
        current = gateway.get(f"/sweeps/{sweep_id}", params={"limit": 0})
        if current["status"] not in TERMINAL:
            raise CliError(
                f"sweep {sweep_id} is {current['status']} ({current['done']}/{current['total']}): "
                f"`bts sweep wait {sweep_id}`"
            )
        if save is not None:
            if not current.get("report_url"):
                raise CliError(f"the report of sweep {sweep_id} is not written yet; try again in a moment")
            save.write_bytes(gateway.request("GET", f"/sweeps/{sweep_id}/report").content)
            if not as_json:
                out.print(f"report saved to {save}")
        _show(gateway, current, as_json, limit)


@app.command("list")
def list_cmd(
    status_filter: str = typer.Option(None, "--status", help="PENDING, RUNNING, COMPLETED or FAILED"),
    limit: int = typer.Option(50, "--limit", help="rows per page (at most 500)"),
    offset: int = typer.Option(0, "--offset", help="rows to skip"),
    as_json: bool = JsonOpt,
) -> None:
    """Your sweeps, newest first, with their full ids."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if status_filter:
        params["status"] = status_filter.upper()
    with Gateway() as gateway:
        page = gateway.get("/sweeps", params=params)
    if as_json:
        print(json.dumps(page))
        return
    table = Table()
    table.add_column("id", no_wrap=True, min_width=36)
    for column in ("name", "status", "strategy", "objective", "done", "submitted"):
        table.add_column(column)
    for r in page["items"]:
        table.add_row(
            r["id"],
            r["name"] or "",
            r["status"],
            r["strategy_type"],
            f"{r['objective']} ({r['direction']})",
            f"{r['done']}/{r['total']}" + (f" ({r['failed']} failed)" if r["failed"] else ""),
            r["submitted_at"][:19],
        )
    out.print(table)
    note = page_note(page)
    if note:
        out.print(note)


@app.command("cancel")
def cancel_cmd(sweep_id: str = IdArg, as_json: bool = JsonOpt) -> None:
    """Drop the sweep's queued backtests and stop its running ones; it then finishes with what did run."""
    with Gateway() as gateway:
        sweep_id = sweep_id_of(gateway, sweep_id)
        accepted = gateway.post(f"/sweeps/{sweep_id}/cancel")
    if as_json:
        print(json.dumps(accepted))
    else:
        out.print(
            f"sweep {sweep_id}: cancel requested ({len(accepted['cancelling'])} running backtest(s) stopping, "
            f"{accepted['dropped']} queued dropped)"
        )


@app.command("delete")
def delete_cmd(sweep_id: str = IdArg, as_json: bool = JsonOpt) -> None:
    """Delete a finished sweep, every backtest it ran and its report."""
    with Gateway() as gateway:
        sweep_id = sweep_id_of(gateway, sweep_id)
        gateway.request("DELETE", f"/sweeps/{sweep_id}")
    print(json.dumps({"id": sweep_id, "deleted": True})) if as_json else out.print(f"sweep {sweep_id} deleted")
