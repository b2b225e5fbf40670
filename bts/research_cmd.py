"""`bts backtest manifest|reproduce|compare` and `bts strategy types`: the research side of backtests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from bts.backtest_cmd import backtest_id_of, wait_all
from bts.console import CliError, err, out
from bts.gateway import Gateway
from bts.manifests import manifest_checks
from bts.options import JsonOpt
from shared.contracts.models.enums import BacktestStatus
from shared.presentation.metrics import GROUP_TITLES, LABELS, format_metric


def _short(value: str) -> str:
    """Digests and commits cut to 16 characters: enough to tell them apart in a table."""
    if len(value) == 64:
        return value[:16]
    package, plus, commit = value.partition("+")
    return f"{package}+{commit[:12]}{'-dirty' if commit.endswith('-dirty') else ''}" if plus else value


def manifest(backtest_id: str = typer.Argument(...), as_json: bool = JsonOpt) -> None:
    """What a result was computed from: digests of its bars, configuration, parameters and trades; versions."""
    with Gateway() as gateway:
        backtest_id = backtest_id_of(gateway, backtest_id)
        document = gateway.get(f"/backtests/{backtest_id}/manifest")
    if as_json:
        print(json.dumps(document))
        return
    table = Table(title=f"manifest of backtest {backtest_id}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for instrument, digest in sorted((document.get("data") or {}).items()):
        table.add_row(f"bars {instrument}", f"{digest['sha256']}  ({digest['bars']} bars)")
    if document.get("benchmark"):
        table.add_row(f"benchmark {document['benchmark']['symbol']}", document["benchmark"]["sha256"])
    table.add_row("data as of", document.get("data_as_of") or "- (before versioned market data)")
    table.add_row("configuration", document["configuration_sha256"])
    table.add_row("parameters", f"{document['parameters_sha256']}  {json.dumps(document['parameters'])}")
    table.add_row("trades", f"{document.get('trades_sha256') or '-'}  ({document.get('trades_count')} trades)")
    table.add_row(
        "strategy",
        f"{document['strategy_type']} from {document.get('strategy_distribution')} {document.get('strategy_version')}",
    )
    table.add_row(
        "code",
        f"{document['code_version']} (NautilusTrader {document['nautilus_trader_version']}, "
        f"Python {document['python_version']})",
    )
    out.print(table)


def reproduce(
    backtest_id: str = typer.Argument(...),
    latest_data: bool = typer.Option(
        False, "--latest-data", help="run on the current bars, not on the bars as of the original run"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Run a COMPLETED backtest's recorded request again as a new backtest and check that the trades are the
    same (the manifests' trades digests). The rerun reads the bars as of the original run unless
    --latest-data. Exit 0 when they match, 1 when they do not."""
    with Gateway() as gateway:
        backtest_id = backtest_id_of(gateway, backtest_id)
        current = gateway.get(f"/backtests/{backtest_id}")
        if current["status"] != BacktestStatus.COMPLETED:
            raise CliError(
                f"backtest {backtest_id} is {current['status']}: only a COMPLETED backtest's trades can be reproduced"
            )
        original = gateway.get(f"/backtests/{backtest_id}/manifest")
        accepted = gateway.post(f"/backtests/{backtest_id}/reproduce", json={"latest_data": latest_data})
        rerun_id = accepted["id"]
        final = wait_all(gateway, {rerun_id: f"reproducing {backtest_id[:8]}"})[rerun_id]
        if final["status"] == BacktestStatus.FAILED:
            raise CliError(f"the rerun {rerun_id} FAILED: {final['error_message']}")
        rerun = gateway.get(f"/backtests/{rerun_id}/manifest")
    checks = manifest_checks(original, rerun)
    matched = original.get("trades_sha256") is not None and original.get("trades_sha256") == rerun.get("trades_sha256")
    if as_json:
        print(
            json.dumps(
                {
                    "original": backtest_id,
                    "rerun": rerun_id,
                    "trades_match": matched,
                    "checks": [
                        {"what": c.what, "original": c.original, "rerun": c.rerun, "same": c.same} for c in checks
                    ],
                }
            )
        )
    else:
        table = Table(title=f"backtest {backtest_id} reproduced as {rerun_id}")
        for column in ("input / output", "original", "rerun", ""):
            table.add_column(column, no_wrap=True)
        for check in checks:
            mark = "[green]same[/]" if check.same else "[red]different[/]"
            table.add_row(check.what, _short(check.original), _short(check.rerun), mark)
        out.print(table)
        if matched:
            out.print(f"[green]reproduced:[/] the rerun made the same {rerun.get('trades_count')} trades")
        else:
            differ = [c.what for c in checks if not c.same and c.what != "trades"]
            why = f"; what differs: {', '.join(differ)}" if differ else ""
            err.print(f"[red]not reproduced:[/] the trades differ{why}")
    if not matched:
        raise typer.Exit(1)


def compare(
    backtest_ids: list[str] = typer.Argument(..., help="2 to 10 backtest ids"),
    html: Path | None = typer.Option(None, "--out", "-o", help="HTML report path (default ./comparison-<ids>.html)"),
    as_json: bool = JsonOpt,
) -> None:
    """Metrics side by side, and an HTML report with the equity curves overlaid (self-contained, opens offline)."""
    from shared.presentation.comparison import render_comparison_html  # pandas and plotly: only for this command

    with Gateway() as gateway:
        backtest_ids = [backtest_id_of(gateway, b) for b in backtest_ids]
        comparison = gateway.get("/backtests/compare", params={"ids": ",".join(backtest_ids), "curves": "true"})
    path = html or Path(f"comparison-{'-'.join(b[:8] for b in backtest_ids)}.html")
    try:
        path.write_text(render_comparison_html(comparison, datetime.now(UTC)), encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write the report to {path}: {exc.strerror}") from exc
    if as_json:
        print(json.dumps({**comparison, "html": str(path.resolve())}))
        return
    out.print(comparison_table(comparison))
    out.print(f"report: {path.resolve()}", soft_wrap=True)


def comparison_table(comparison: dict[str, Any]) -> Table:
    backtests = comparison["backtests"]
    table = Table(title=f"{len(backtests)} backtests side by side (bold: best)")
    table.add_column("metric", no_wrap=True)
    for backtest in backtests:
        table.add_column(backtest["label"], justify="right")
    group = None
    for row in comparison["metrics"]:
        if row["group"] != group:
            group = row["group"]
            table.add_row(f"[dim]{GROUP_TITLES.get(group, group)}[/]", *([""] * len(backtests)))
        cells = []
        for backtest, value in zip(backtests, row["values"], strict=True):
            text = format_metric(row["metric"], value)
            cells.append(f"[bold green]{text}[/]" if row.get("best") == backtest["id"] else text)
        table.add_row(LABELS.get(row["metric"], row["metric"]), *cells)
    table.add_row("trades", *(str(b["trades_count"]) for b in backtests))
    return table


def strategy_types(as_json: bool = JsonOpt) -> None:
    """The strategy types this platform runs (built-ins and installed plugins) and their parameters."""
    with Gateway() as gateway:
        types = gateway.get("/strategy-types")
    if as_json:
        print(json.dumps(types))
        return
    table = Table()
    for column in ("type", "parameters", "from", "description"):
        table.add_column(column, overflow="fold")
    for t in types:
        schema = t["parameters_schema"]
        required = set(schema.get("required") or [])
        names = sorted(schema.get("properties") or {}, key=lambda name: name not in required)  # required first
        params = ", ".join(f"{name}{'' if name in required else '?'}" for name in names)
        table.add_row(t["name"], params, f"{t['distribution']} {t['version']}", t["description"])
    out.print(table)
    out.print("[dim]?: optional. Full JSON Schemas: bts strategy types --json[/]")
