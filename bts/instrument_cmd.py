"""`bts instrument add|list`: the instruments data is loaded for and backtests trade."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from bts.console import CliError, out
from bts.gateway import Gateway
from bts.ids import page_note
from bts.options import JsonOpt
from shared.contracts.models import AssetClass, Currency

app = typer.Typer(help="Instruments (SYMBOL.EXCHANGE).", no_args_is_help=True)


@app.command("add")
def add(
    instrument_id: str = typer.Argument(..., help="SYMBOL.EXCHANGE, e.g. AAPL.NASDAQ"),
    asset_class: AssetClass = typer.Option(AssetClass.EQUITY, "--asset-class"),
    currency: Currency = typer.Option(Currency.USD, "--currency"),
    tick_size: str = typer.Option("0.01", "--tick-size"),
    lot_size: int = typer.Option(1, "--lot-size"),
    margin: str = typer.Option("25", "--margin", help="margin requirement, percent of position value"),
    timezone: str = typer.Option("America/New_York", "--timezone", help="exchange time zone (IANA)"),
) -> None:
    """Register an instrument (you own it), or overwrite one you own (admins: any); its exchange must have a
    trading calendar."""
    symbol, sep, exchange = instrument_id.rpartition(".")
    if not sep or not symbol:
        raise CliError(f"instrument id must be SYMBOL.EXCHANGE (e.g. AAPL.NASDAQ), got {instrument_id!r}")
    body = {
        "id": instrument_id,
        "symbol": symbol,
        "exchange": exchange,
        "asset_class": asset_class.value,
        "currency": currency.value,
        "tick_size": tick_size,
        "lot_size": lot_size,
        "margin_requirement": margin,
        "trading_hours": {"timezone": timezone},
    }
    with Gateway() as gateway:
        response = gateway.request("POST", "/instruments", json=body)
    how = "registered" if response.status_code == 201 else "registered again (overwritten)"
    out.print(f"instrument [bold]{response.json()['id']}[/] {how}")


@app.command("list")
def list_cmd(
    limit: int = typer.Option(50, "--limit", help="rows per page (at most 500)"),
    offset: int = typer.Option(0, "--offset", help="rows to skip"),
    as_json: bool = JsonOpt,
) -> None:
    """Registered instruments."""
    with Gateway() as gateway:
        page = gateway.get("/instruments", params={"limit": limit, "offset": offset})
    instruments = page["items"]
    if as_json:
        print(json.dumps(page))
        return
    table = Table()
    for column in ("id", "asset class", "currency", "tick", "lot", "margin %", "time zone"):
        table.add_column(column)
    for i in instruments:
        table.add_row(
            i["id"],
            i["asset_class"],
            i["currency"],
            str(i["tick_size"]),
            str(i["lot_size"]),
            str(i["margin_requirement"]),
            i["trading_hours"]["timezone"],
        )
    out.print(table)
    note = page_note(page)
    if note:
        out.print(note)
