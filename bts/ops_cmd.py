"""`bts ops lag`, `bts ops dlq list|replay` and `bts ops outbox`: consumer lag, dead letters and the services'
outboxes, as operators watch them (an admin's API key: `bts user create NAME --admin`, or the demo key `bts up`
prints)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any
from urllib.parse import quote

import typer
from rich.table import Table

from bts.console import out
from bts.gateway import Gateway
from bts.options import JsonOpt

app = typer.Typer(help="Operations (admin key): consumer lag, dead letters, outboxes.", no_args_is_help=True)
dlq_app = typer.Typer(
    help="Dead letters: messages a consumer could not handle, and their replay.", no_args_is_help=True
)
app.add_typer(dlq_app, name="dlq")


@app.command("lag")
def lag(
    group: list[str] = typer.Option([], "--group", "-g", help="only these groups (repeatable)"),
    all_partitions: bool = typer.Option(False, "--all", help="every partition, not only those with lag or members"),
    as_json: bool = JsonOpt,
) -> None:
    """Per group, topic and partition: committed offset, end offset, lag and members."""
    with Gateway() as gateway:
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
            table.add_row(
                r["group"],
                r["topic"],
                str(r["partition"]),
                str(r["committed"]),
                str(r["end_offset"]),
                str(r["lag"]),
                ", ".join(r["members"]),
            )
    out.print(table)
    for name, total in sorted(totals.items()):
        out.print(f"{name}: total lag {total}")


@dlq_app.command("list")
def dlq_list(
    topic: str = typer.Argument(..., help="the original topic, e.g. backtest.requested"),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000, help="at most this many letters"),
    pending: bool = typer.Option(False, "--pending", help="only those no replay has sent back yet"),
    as_json: bool = JsonOpt,
) -> None:
    """The dead letters of TOPIC: offset, key, consumer group, attempts, when and why it failed."""
    params: dict[str, Any] = {"limit": limit, "pending": pending}
    with Gateway() as gateway:
        listing: dict[str, Any] = gateway.get(f"/ops/dlq/{quote(topic, safe='')}", params=params)
    if as_json:
        print(json.dumps(listing))
        return
    table = Table(title=f"{listing['dlq_topic']}")
    for column in ("offset", "key", "consumer group", "attempts", "failed_at", "replayed"):
        table.add_column(column, justify="right" if column in ("offset", "attempts") else "left", no_wrap=True)
    table.add_column("error", overflow="fold")  # only the error wraps: the rest stays on one line
    for letter in listing["letters"]:
        table.add_row(
            str(letter["dlq_offset"]),
            letter["key"] or "",
            letter["consumer_group"],
            str(letter["attempts"]),
            letter["failed_at"][:19].replace("T", " "),
            "yes" if letter["replayed"] else "no",
            letter["error"],
        )
    if listing["letters"]:
        out.print(table)
    out.print(f"{listing['total']} dead letter(s) of {topic}, {listing['pending']} not replayed yet")


@dlq_app.command("replay")
def dlq_replay(
    topic: str = typer.Argument(..., help="the original topic, e.g. backtest.requested"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="at most this many letters"),
    as_json: bool = JsonOpt,
) -> None:
    """Put the dead letters of TOPIC back on it, after the cause was fixed; each letter is sent only once."""
    with Gateway(timeout=600) as gateway:
        outcome: dict[str, Any] = gateway.post(
            f"/ops/dlq/{quote(topic, safe='')}/replay", params={"limit": limit} if limit else None
        )
    if as_json:
        print(json.dumps(outcome))
        return
    replayed = outcome["replayed"]
    if replayed:
        offsets = ", ".join(str(r["dlq_offset"]) for r in replayed)
        out.print(f"replayed {len(replayed)} dead letter(s) to {topic} (DLQ offsets {offsets})")
    else:
        out.print(f"nothing to replay: every dead letter of {topic} was replayed before")
    for skipped in outcome["skipped"]:
        out.print(f"skipped DLQ offset {skipped['dlq_offset']}: {skipped['reason']}")


@app.command("outbox")
def outbox(
    limit: int = typer.Option(20, "--limit", min=0, max=1000, help="latest parked rows shown per service"),
    as_json: bool = JsonOpt,
) -> None:
    """Per service: events waiting to be published, and those parked because the broker refused them for good."""
    with Gateway() as gateway:
        schemas: list[dict[str, Any]] = gateway.get("/ops/outbox", params={"limit": limit})
    if as_json:
        print(json.dumps(schemas))
        return
    summary = Table(title="outboxes")
    for column in ("service", "pending", "oldest pending", "parked"):
        summary.add_column(column, justify="left" if column == "service" else "right")
    for s in schemas:
        oldest = (s["oldest_pending_at"] or "")[:19].replace("T", " ")
        summary.add_row(s["schema_name"], str(s["pending"]), oldest, str(s["parked"]))
    out.print(summary)
    parked = [(s["schema_name"], row) for s in schemas for row in s["latest_parked"]]
    if not parked:
        return
    table = Table(title="latest parked rows")
    for column in ("service", "id", "topic", "key", "bytes", "parked at"):
        table.add_column(column, justify="right" if column in ("id", "bytes") else "left", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for service, row in parked:
        table.add_row(
            service,
            str(row["id"]),
            row["topic"],
            row["key"] or "",
            f"{row['payload_bytes']:,}",
            row["parked_at"][:19].replace("T", " "),
            row["reason"],
        )
    out.print(table)
