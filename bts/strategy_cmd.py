"""`bts strategy create|list|activate|archive|clone|delete`: the strategies backtests run. A strategy is named
by its name, its id, or a unique prefix of its id (at least 8 characters)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from bts.console import CliError, out
from bts.gateway import Gateway
from bts.ids import page_note, resolve_id
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
    """Your strategy of that name, else of that id or unique id prefix."""
    named = gateway.get("/strategies", params={"name": name_or_id.strip(), "limit": 1})["items"]
    if named:
        return dict(named[0])
    try:
        strategy_id = resolve_id(gateway, "strategies", "strategy", name_or_id)
    except CliError as exc:
        raise CliError(f"unknown strategy {name_or_id!r} ({exc}): `bts strategy list` shows yours") from exc
    return dict(gateway.get(f"/strategies/{strategy_id}"))


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
def list_strategies(
    status_filter: str = typer.Option(None, "--status", help="DRAFT, ACTIVE or ARCHIVED"),
    strategy_type: str = typer.Option(None, "--type", help="only strategies of this type"),
    limit: int = typer.Option(50, "--limit", help="rows per page (at most 500)"),
    offset: int = typer.Option(0, "--offset", help="rows to skip"),
    as_json: bool = JsonOpt,
) -> None:
    """Your strategies and their state, with their full ids."""
    params: dict[str, Any] = {"limit": limit, "offset": offset, "strategy_type": strategy_type}
    params["status"] = status_filter.upper() if status_filter else None
    with Gateway() as gateway:
        page = gateway.get("/strategies", params={k: v for k, v in params.items() if v is not None})
    if as_json:
        print(json.dumps(page))
        return
    table = Table()
    table.add_column("id", no_wrap=True, min_width=36)
    for column in ("name", "type", "status", "parameters"):
        table.add_column(column)
    for s in page["items"]:
        table.add_row(s["id"], s["name"], s["strategy_type"], s["status"], json.dumps(s["parameters"]))
    out.print(table)
    note = page_note(page)
    if note:
        out.print(note)


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


@app.command("clone")
def clone_cmd(
    strategy: str = typer.Argument(..., help="name, id or id prefix (ARCHIVED ones too)"),
    name: str = typer.Option(None, "--name", help="the copy's name (default: '<name> (copy)')"),
    activate: bool = typer.Option(False, "--activate", help="make the copy ACTIVE at once"),
    as_json: bool = JsonOpt,
) -> None:
    """A new DRAFT with the same type and parameters: how to run an archived strategy again."""
    with Gateway() as gateway:
        source = resolve(gateway, strategy)
        created = gateway.post(f"/strategies/{source['id']}/clone", json={"name": name} if name else None)
        if activate:
            created = gateway.post(f"/strategies/{created['id']}/activate")
    if as_json:
        print(json.dumps(created))
    else:
        out.print(
            f"strategy [bold]{created['name']}[/] {created['id']} ({created['status']}), a copy of {source['name']}"
        )


@app.command("delete")
def delete_cmd(strategy: str = typer.Argument(..., help="name, id or id prefix")) -> None:
    """Delete a strategy that no backtest or sweep uses any more (else the error names them)."""
    with Gateway() as gateway:
        found = resolve(gateway, strategy)
        gateway.request("DELETE", f"/strategies/{found['id']}")
    out.print(f"strategy [bold]{found['name']}[/] {found['id']} deleted")
