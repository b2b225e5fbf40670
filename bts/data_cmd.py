"""`bts data coverage|history`: what market data there is, and the versions of a series."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from bts.console import out
from bts.gateway import Gateway
from bts.options import JsonOpt
from shared.contracts.models import Timeframe

app = typer.Typer(help="Market data: coverage and versions.", no_args_is_help=True)
COVERAGE_COLUMNS = (
    "instrument",
    "timeframe",
    "first bar",
    "last bar",
    "bars",
    "sessions",
    "gaps",
    "adjustment",
    "last import",
)
TimeframeFilter = typer.Option(None, "--timeframe", help="only this timeframe (default: all)")


def _day(value: str | None) -> str:
    """A UTC timestamp cut to its day, or its minute when it has a time of day."""
    if not value:
        return "-"
    text = value.replace("T", " ")
    return text[:10] if text[11:19] in ("", "00:00:00") else text[:16]


def _gaps(row: dict[str, Any]) -> str:
    if row["gap_sessions"] is None:
        return "no calendar"
    if not row["gap_sessions"]:
        return "none"
    shown = ", ".join(g["start"] if g["start"] == g["end"] else f"{g['start']}..{g['end']}" for g in row["gaps"])
    more = row["gap_ranges"] - len(row["gaps"])
    return f"{row['gap_sessions']} sessions: {shown}" + (f" and {more} more" if more > 0 else "")


@app.command("coverage")
def coverage(
    instrument_id: str | None = typer.Option(None, "--instrument", help="only this instrument"),
    timeframe: Timeframe | None = TimeframeFilter,
    as_json: bool = JsonOpt,
) -> None:
    """Per instrument and timeframe: first and last bar, bars, expected sessions, gaps, adjustment, last import."""
    chosen = (("instrument_id", instrument_id), ("timeframe", timeframe.value if timeframe else None))
    params = {name: value for name, value in chosen if value is not None}
    with Gateway() as gateway:
        rows = gateway.get("/market-data/coverage", params=params)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(title="market data coverage (bar opens, UTC)")
    for column in COVERAGE_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        expected = row["expected_sessions"]
        sessions = f"{row['sessions_with_bars']}/{expected}" if expected is not None else str(row["sessions_with_bars"])
        first, last = _day(row["first_bar"]), _day(row["last_bar"])
        table.add_row(
            row["instrument_id"],
            row["timeframe"],
            first,
            last,
            str(row["bars"]),
            sessions,
            _gaps(row),
            row["adjustment"],
            _day(row["last_import"]),
        )
    out.print(table)


@app.command("history")
def history(
    instrument_id: str = typer.Argument(..., help="SYMBOL.EXCHANGE"),
    timeframe: Timeframe | None = TimeframeFilter,
    as_json: bool = JsonOpt,
) -> None:
    """The versions of an instrument's series: each import that changed bars, when, how many, the range touched.
    Bars an import replaced are kept: a backtest reproduced later reads them as of its original run."""
    params = {"timeframe": timeframe.value} if timeframe is not None else {}
    with Gateway() as gateway:
        versions = gateway.get(f"/market-data/{instrument_id}/history", params=params)
    if as_json:
        print(json.dumps(versions))
        return
    table = Table(title=f"versions of {instrument_id} (UTC)")
    for column in ("recorded at", "timeframe", "new bars", "changed bars", "unchanged", "range touched"):
        table.add_column(column)
    for v in versions:
        counts = (str(v["inserted"]), str(v["updated"]), str(v["unchanged"]))
        touched = f"{_day(v['first_bar'])} .. {_day(v['last_bar'])}"
        table.add_row(v["recorded_at"].replace("T", " ")[:19], v["timeframe"], *counts, touched)
    out.print(table)


@app.command("delete")
def delete(
    instrument_id: str = typer.Argument(..., help="SYMBOL.EXCHANGE (yours, or any as an admin)"),
    timeframe: Timeframe | None = TimeframeFilter,
    force: bool = typer.Option(
        False, "--force", help="also when results were computed from the bars: the version they read is kept"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Delete an instrument's bars (one timeframe, or all). Refused while a backtest still to run reads them, and
    while results were computed from them unless --force."""
    params: dict[str, str] = {"timeframe": timeframe.value} if timeframe is not None else {}
    if force:
        params["force"] = "true"
    with Gateway() as gateway:
        done = gateway.request("DELETE", f"/market-data/{instrument_id}", params=params).json()
    if as_json:
        print(json.dumps(done))
        return
    which = done["timeframe"] or "every timeframe"
    kept = (
        f"; the version {done['results_using']} result(s) were computed from is kept for their reproductions"
        if done["versions_kept"]
        else ""
    )
    out.print(f"bars of {instrument_id} ({which}): deletion requested{kept}")
