"""`bts ops lag`: consumer groups and their lag, as operators watch them."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import typer
from rich.table import Table

from bts.console import out
from bts.gateway import Gateway
from shared.settings import Settings

app = typer.Typer(help="Operations: consumer lag.", no_args_is_help=True)


@app.command("lag")
def lag(
    group: list[str] = typer.Option([], "--group", "-g", help="only these groups (repeatable)"),
    all_partitions: bool = typer.Option(False, "--all", help="every partition, not only those with lag or members"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Per group, topic and partition: committed offset, end offset, lag and members."""
    with Gateway(Settings()) as gateway:
        rows: list[dict[str, Any]] = gateway.get("/ops/consumers", params={"group": group} if group else None)
    if as_json:
        print(json.dumps(rows))
        return
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        totals[r["group"]] += r["lag"] or 0
    table = Table()
    for column in ("group", "topic", "partition", "committed", "end", "lag", "members"):
        table.add_column(column, justify="right" if column in ("partition", "committed", "end", "lag") else "left")
    for r in rows:
        if all_partitions or r["lag"]:
            table.add_row(r["group"], r["topic"], str(r["partition"]), str(r["committed"]), str(r["end_offset"]),
                          str(r["lag"]), ", ".join(r["members"]))  # fmt: skip
    out.print(table)
    for name, total in sorted(totals.items()):
        out.print(f"{name}: total lag {total}")
