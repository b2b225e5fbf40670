"""Benchmark: the gateway's read endpoints under 32 concurrent connections, against a bare FastAPI endpoint.

    .venv/bin/python -m benchmarks.gateway [--seconds 10] [--connections 32]

Starts the stack as `bts up` does (embedded parts), loads the demo's sample data, runs one backtest
through the REST API, then drives with wrk (Debian: `apt-get install wrk`), on loopback:
  GET /api/v1/backtests/{id}          the data model's BacktestStatusResponse (API-key check + read model row)
  GET /api/v1/backtests/{id}/result   the data model's BacktestResult with its metrics JSON
  GET /api/v1/backtests?limit=1       for comparison: a read that always queries the database
  bare                                a FastAPI app with one route returning a constant, served by
                                      uvicorn in its own process with the gateway's settings
and prints requests/s, p50 and p99 latency of each and the ratio to the bare endpoint
(goal: >= 50% of the bare endpoint's throughput, p99 under 50 ms). The backtest is finished, so after the
first read its status and result are answered from memory (services/api/finished.py), as they are for
anyone who reads a finished backtest again.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bts.backtest_cmd import wait_all
from bts.demo import create_strategies, register_and_load
from bts.gateway import Gateway
from bts.sample_data import write_sample_files
from bts.up import Stack
from shared.devstack.process import free_port, stop_process
from shared.platform.settings import Settings

BARE_APP = """
from fastapi import FastAPI
import uvicorn

app = FastAPI()

@app.get("/const")
async def const() -> dict[str, str]:
    return {"status": "COMPLETED"}

uvicorn.run(app, host="127.0.0.1", port={port}, log_config=None, access_log=False, lifespan="on")
"""


@dataclass(frozen=True)
class Load:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(name: str, url: str, seconds: int, connections: int, key: str | None = None) -> Load:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if key:
        args[1:1] = ["-H", f"Authorization: Bearer {key}"]
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    percentile = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", text, re.MULTILINE))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return Load(
        name=name,
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(percentile["50"]),
        p99_ms=_ms(percentile["99"]),
        errors=(int(failed.group(1)) if failed else 0) + (sum(map(int, socket.groups())) if socket else 0),
    )


def _completed_backtest(settings: Settings, stack: Stack) -> str:
    """One finished backtest (SMA crossover on the demo's sample data), through the REST API."""
    with Gateway(settings.model_copy(update={"api_key": stack.demo_key})) as gateway:
        register_and_load(gateway, write_sample_files(stack.state_dir / "samples"))
        strategy_id = next(iter(create_strategies(gateway).values()))
        accepted = gateway.post(
            "/backtests",
            json={
                "strategy_id": strategy_id,
                "instrument_ids": ["AAPL.NASDAQ", "MSFT.NASDAQ", "GOOG.NASDAQ"],
                "start_date": "2019-01-02",
                "end_date": "2024-12-31",
                "position_size_pct": "10",
            },
        )
        final = wait_all(gateway, {accepted["id"]: "SMA"})
        if final[accepted["id"]]["status"] != "COMPLETED":
            raise SystemExit(f"the benchmark's backtest did not complete: {final[accepted['id']]}")
        return str(accepted["id"])


def _bare_endpoint() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_APP.replace("{port}", str(port))])
    url = f"http://127.0.0.1:{port}/const"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("the bare endpoint did not start")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark drives the load with wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="bts-bench-gw-") as tmp:
        settings = Settings(state_dir=Path(tmp), api_url=f"http://127.0.0.1:{free_port()}")
        stack = Stack(settings, lambda line: print(line, flush=True))
        stack.start()
        bare, bare_url = _bare_endpoint()
        try:
            backtest = _completed_backtest(settings, stack)
            base = f"{settings.api_url}/api/v1/backtests/{backtest}"
            for url in (bare_url, base):  # warm both servers up (imports, pools, caches)
                wrk("warm-up", url, 2, args.connections, stack.demo_key)
            loads = [
                wrk("bare FastAPI constant", bare_url, args.seconds, args.connections),
                wrk("GET /backtests/{id}", base, args.seconds, args.connections, stack.demo_key),
                wrk("GET /backtests/{id}/result", base + "/result", args.seconds, args.connections, stack.demo_key),
                # for comparison, a read that always goes to the database (key cached, list query, validation)
                wrk(
                    "GET /backtests?limit=1",
                    f"{settings.api_url}/api/v1/backtests?limit=1",
                    args.seconds,
                    args.connections,
                    stack.demo_key,
                ),
            ]
        finally:
            stop_process(bare)
            stack.stop()
    floor = loads[0].requests_per_s
    print(f"\n{args.connections} connections, {args.seconds} s each, wrk on loopback (2 threads)")
    print(f"{'endpoint':<30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8} {'errors':>7}")
    for load in loads:
        print(
            f"{load.name:<30} {load.requests_per_s:>9.0f} {load.p50_ms:>8.2f} {load.p99_ms:>8.2f} "
            f"{load.requests_per_s / floor:>8.2f} {load.errors:>7}"
        )
    print("goal: >= 0.50 of the bare endpoint's throughput and p99 < 50 ms")


if __name__ == "__main__":
    main()
