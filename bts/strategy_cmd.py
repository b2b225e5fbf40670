"""`bts strategy create|list|activate|archive`: the strategies backtests run."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from bts.console import CliError, out
from bts.gateway import Gateway
from bts.options import JsonOpt

app = typer.Typer(help="Trading strategies (DRAFT -> ACTIVE -> ARCHIVED).", no_args_is_help=True)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`name=value` pairs; values are read as JSON when they parse (numbers, booleans), else as text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"--param expects name=value, got {pair!r}")
        try:
            params[name.strip()] = json.loads(value)
        except ValueError:
            params[name.strip()] = value
    return params


def resolve(gateway: Gateway, name_or_id: str) -> dict[str, Any]:
    strategies: list[dict[str, Any]] = gateway.get("/strategies")
    found = [s for s in strategies if name_or_id in (s["id"], s["name"])]
    if not found:
        raise CliError(f"unknown strategy {name_or_id!r}: `bts strategy list` shows yours")
    return found[0]


@app.command("create")
def create(
    name: str = typer.Argument(..., help="unique among your strategies"),
    strategy_type: str = typer.Option(..., "--type", help="a registered strategy type (`bts strategy types`)"),
    param: list[str] = typer.Option([], "--param", "-p", help="parameter name=value, repeatable"),
    activate: bool = typer.Option(False, "--activate", help="make it ACTIVE at once (ready to backtest)"),
    as_json: bool = JsonOpt,
) -> None:
    """Create a strategy, e.g. `bts strategy create sma --type SMA_CROSSOVER -p fast_period=20 -p slow_period=50`."""
    with Gateway() as gateway:
        created = gateway.post(
            "/strategies", json={"name": name, "strategy_type": strategy_type, "parameters": parse_params(param)}
        )
        if activate:
            created = gateway.post(f"/strategies/{created['id']}/activate")
    if as_json:
        print(json.dumps(created))
    else:
        out.print(f"strategy [bold]{created['name']}[/] {created['id']} ({created['status']})")


@app.command("list")
def list_strategies(as_json: bool = JsonOpt) -> None:
    """Your strategies and their state."""
    with Gateway() as gateway:
        strategies = gateway.get("/strategies")
    if as_json:
        print(json.dumps(strategies))
        return
    table = Table()
    for column in ("id", "name", "type", "status", "parameters"):
        table.add_column(column)
    for s in strategies:
        table.add_row(s["id"], s["name"], s["strategy_type"], s["status"], json.dumps(s["parameters"]))
    out.print(table)


def _transition(name_or_id: str, action: str) -> None:
    with Gateway() as gateway:
        changed = gateway.post(f"/strategies/{resolve(gateway, name_or_id)['id']}/{action}")
    out.print(f"strategy [bold]{changed['name']}[/] is {changed['status']}")


@app.command("activate")
def activate_cmd(strategy: str = typer.Argument(..., help="name or id")) -> None:
    """DRAFT -> ACTIVE: it can be backtested from now on."""
    _transition(strategy, "activate")


@app.command("archive")
def archive_cmd(strategy: str = typer.Argument(..., help="name or id")) -> None:
    """-> ARCHIVED: read-only from now on."""
    _transition(strategy, "archive")
