"""The services' uvicorn server ticks once a second, yet a stop request (SIGTERM, Ctrl-C) ends its loop at once."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import pytest
import uvicorn
from fastapi import FastAPI

from shared.platform.runtime import server
from shared.platform.runtime.server import QuietServer

pytestmark = pytest.mark.asyncio


async def _until(condition: Callable[[], bool]) -> None:
    """Let the loop run until `condition` holds (a bounded number of turns, no clock)."""
    for _ in range(100_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


def _server() -> QuietServer:
    quiet = QuietServer(uvicorn.Config(FastAPI(), log_config=None))
    quiet.config.load()  # what uvicorn does before serving: the encoded default headers exist
    return quiet


async def test_a_stop_request_ends_the_loop_without_waiting_for_a_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "TICK_S", 3600.0)  # a loop that waited for its tick would outlive the test
    quiet = _server()
    loop = asyncio.create_task(quiet.main_loop())
    await _until(lambda: bool(quiet.server_state.default_headers))  # the first tick ran: the loop now waits
    assert not loop.done()
    quiet.handle_exit(signal.SIGTERM, None)
    await asyncio.wait_for(loop, timeout=60)
    assert quiet.should_exit


async def test_every_tick_refreshes_the_date_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn refreshes the Date header every tenth 0.1 s tick; ours does it on each 1 s tick."""
    monkeypatch.setattr(server, "TICK_S", 0.0)
    quiet = _server()
    loop = asyncio.create_task(quiet.main_loop())
    await _until(lambda: bool(quiet.server_state.default_headers))
    quiet.server_state.default_headers = []  # as if stale: the next tick puts the date back
    await _until(lambda: bool(quiet.server_state.default_headers))
    assert dict(quiet.server_state.default_headers)[b"date"].endswith(b"GMT")
    quiet.handle_exit(signal.SIGTERM, None)
    await asyncio.wait_for(loop, timeout=60)
