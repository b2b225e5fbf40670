"""Talking to a running stack as its users do: a gateway client with a key of its own, and `bts` itself."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bts.stackfile import StackFile
from services.api.users import create_user
from shared.platform.db.urls import asyncpg_dsn

PROBLEM = "application/problem+json"


async def new_user(stack: StackFile, name: str, admin: bool = False) -> tuple[uuid.UUID, str]:
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        created = await create_user(conn, name, admin)
    finally:
        await conn.close()
    return created.user_id, created.api_key


class Api:
    """A user (an admin if asked) of the stack's gateway, with an httpx client on /api/v1."""

    def __init__(self, stack: StackFile, name: str, admin: bool = False) -> None:
        self.user_id, self.key = asyncio.run(new_user(stack, f"{name}-{uuid.uuid4().hex[:6]}", admin))
        self.http = httpx.Client(
            base_url=stack.api_url + "/api/v1", headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )

    def wait(self, path: str, done: set[str], within: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            body: dict[str, Any] = self.http.get(path).json()
            if body.get("status") in done:
                return body
            assert time.monotonic() < deadline, f"{path} still {body}"
            time.sleep(0.3)


def bts(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI as a person runs it (only the BTS_* variables given), never with a traceback."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    result = subprocess.run(
        [sys.executable, "-m", "bts", *args],
        env={**clean, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def server_sent_events(api: Api, path: str, within: float = 120) -> list[tuple[str, Any]]:
    """Follow an event stream until the server closes it: (event name, parsed data) per event, and
    ("comment", text) per comment line. Fails if it is still open after `within` seconds."""
    found: list[tuple[str, Any]] = []
    name, data = "message", []
    deadline = time.monotonic() + within  # keep-alive comments keep each read short: the deadline bounds them all
    with api.http.stream("GET", path, timeout=httpx.Timeout(within, read=within)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            assert time.monotonic() < deadline, f"{path} still open after {within:.0f} s: {found}"
            if line.startswith(":"):
                found.append(("comment", line[1:].strip()))
            elif line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").strip())
            elif not line and data:
                found.append((name, json.loads("\n".join(data))))
                name, data = "message", []
    return found


def import_daily_csv(api: Api, path: Path, instrument_id: str) -> dict[str, Any]:
    """Upload `path` as the daily bars of `instrument_id` through the gateway, as a user does; the import job
    once it has ended (COMPLETED or FAILED)."""
    with path.open("rb") as file:
        form = {"instrument_id": instrument_id, "timeframe": "BAR_DAILY"}
        accepted = api.http.post("/market-data/import", files={"file": (path.name, file, "text/csv")}, data=form)
    assert accepted.status_code == 202, accepted.text
    return api.wait(f"/market-data/import/{accepted.json()['job_id']}", {"COMPLETED", "FAILED"})


def nasdaq_instrument(symbol: str, **overrides: Any) -> dict[str, Any]:
    """The body of POST /instruments for a NASDAQ equity `symbol` (tick 0.01, lot 1, margin 25%)."""
    return {
        "id": f"{symbol}.NASDAQ",
        "symbol": symbol,
        "exchange": "NASDAQ",
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": 1,
        "margin_requirement": "25",
        **overrides,
    }
