"""`bts key create|list|revoke`: your API keys (rotate: create, switch BTS_API_KEY, revoke the old one)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from bts.console import CliError, out
from bts.gateway import Gateway
from bts.ids import every_item
from bts.options import JsonOpt

app = typer.Typer(help="Your API keys: create another, list them, revoke one.", no_args_is_help=True)


@app.command("create")
def create(as_json: bool = JsonOpt) -> None:
    """A new API key for you (the one in BTS_API_KEY keeps working until you revoke it)."""
    with Gateway() as gateway:
        created = gateway.post("/keys")
    if as_json:
        print(json.dumps(created))
        return
    out.print(f"key {created['key_id']} created")
    out.print(f"API key (shown once): [bold]{created['api_key']}[/]")
    out.print(f"use it as: export BTS_API_KEY={created['api_key']}")


@app.command("list")
def list_keys(as_json: bool = JsonOpt) -> None:
    """Your keys: prefix, created, last used (to within 30 s) and revoked."""
    with Gateway() as gateway:
        keys = list(every_item(gateway, "/keys"))
    if as_json:
        print(json.dumps(keys))
        return
    table = Table()
    for column in ("key_id", "prefix", "created", "last used", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(k["key_id"], k["prefix"], k["created_at"], k["last_used_at"] or "-", k["revoked_at"] or "-")
    out.print(table)


def _resolve(gateway: Gateway, key_id_or_prefix: str) -> dict[str, Any]:
    keys = list(every_item(gateway, "/keys"))
    found = [k for k in keys if key_id_or_prefix in (k["key_id"], k["prefix"])]
    if len(found) != 1:
        raise CliError(f"no key {key_id_or_prefix!r} of yours: `bts key list` shows their ids and prefixes")
    return found[0]


@app.command("revoke")
def revoke(
    key: str = typer.Argument(..., help="key id or prefix (`bts key list`)"),
    as_json: bool = JsonOpt,
) -> None:
    """Revoke one of your keys at once: the next request with it is refused (401)."""
    with Gateway() as gateway:
        found = _resolve(gateway, key)
        gateway.request("DELETE", f"/keys/{found['key_id']}")
    if as_json:
        print(json.dumps({"key_id": found["key_id"], "revoked": True}))
    else:
        out.print(f"key {found['key_id']} ({found['prefix']}) revoked")
