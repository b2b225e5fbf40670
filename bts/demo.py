"""`bts demo`: the platform end to end on embedded parts, through the REST gateway, in about a minute.

Starts the stack, registers four instruments, uploads bundled 2019-2024 daily bars (the ingest service
validates and loads them), creates and activates the three built-in strategies, runs each as a
backtest, waits with progress bars, prints a table of headline metrics and the report paths, and
stops the stack. Everything goes through the same REST API a user or program would call.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from bts.backtest_cmd import wait_all
from bts.console import CliError, out
from bts.gateway import Gateway
from bts.ids import every_item
from bts.progress import bars, metrics_table
from bts.sample_data import SYMBOLS, write_sample_files
from bts.up import Stack, console_url
from shared.contracts.models.enums import BacktestStatus
from shared.platform.gateway_access import GatewayAccess
from shared.platform.settings import Settings

STRATEGIES: list[tuple[str, str, dict[str, Any]]] = [
    ("SMA 20/50 crossover", "SMA_CROSSOVER", {"fast_period": 20, "slow_period": 50}),
    ("Mean reversion z 2.0", "MEAN_REVERSION", {"lookback": 20, "entry_z": 2.0, "exit_z": 0.5}),
    ("Momentum 60d > 5%", "MOMENTUM", {"lookback": 60, "threshold": 0.05}),
]
TRADED = ["AAPL.NASDAQ", "MSFT.NASDAQ", "GOOG.NASDAQ"]
REPORT_TYPES = 3  # HTML, CSV, JSON (CSV twice: trades and equity)


def _instrument(symbol: str) -> dict[str, Any]:
    return {
        "id": f"{symbol}.NASDAQ",
        "symbol": symbol,
        "exchange": "NASDAQ",
        "asset_class": "ETF" if symbol == "SPY" else "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": 1,
        "margin_requirement": "25",
    }


def register_and_load(gateway: Gateway, files: dict[str, Path]) -> None:
    known = {i["id"] for i in every_item(gateway, "/instruments")}
    for symbol in files:
        if f"{symbol}.NASDAQ" not in known:
            gateway.post("/instruments", json=_instrument(symbol))
    jobs = {
        gateway.upload(path, {"instrument_id": f"{symbol}.NASDAQ", "timeframe": "BAR_DAILY"})["job_id"]: symbol
        for symbol, path in files.items()
    }
    with bars(rows=True) as progress:
        tasks = {job: progress.add_task(f"loading {symbol} daily bars", total=None) for job, symbol in jobs.items()}
        pending = set(jobs)
        while pending:
            for job in sorted(pending):
                state = gateway.get(f"/market-data/import/{job}")
                progress.update(tasks[job], completed=state["rows_done"], total=state["rows_total"])
                if state["status"] == BacktestStatus.FAILED:
                    raise CliError(f"loading {jobs[job]} failed: {state['error_message']}")
                if state["status"] == BacktestStatus.COMPLETED:
                    progress.update(tasks[job], completed=state["rows_loaded"], total=state["rows_loaded"])
                    pending.discard(job)
            time.sleep(0.2)


def create_strategies(gateway: Gateway) -> dict[str, str]:
    """title -> id of an ACTIVE strategy (a fresh name per run: names are unique per user)."""
    run = uuid.uuid4().hex[:6]
    ids = {}
    for title, strategy_type, parameters in STRATEGIES:
        created = gateway.post(
            "/strategies", json={"name": f"{title} [{run}]", "strategy_type": strategy_type, "parameters": parameters}
        )
        ids[title] = gateway.post(f"/strategies/{created['id']}/activate")["id"]
    return ids


def _reports(gateway: Gateway, backtest_id: str, reports_dir: Path, timeout_s: float = 120) -> dict[str, str]:
    """File name -> local path of a backtest's reports (the demo's own stack writes them under its state dir;
    the gateway names the files, never where the server keeps them)."""
    deadline = time.monotonic() + timeout_s
    while True:
        reports = gateway.get(f"/backtests/{backtest_id}/reports")
        if len({r["report_type"] for r in reports}) >= REPORT_TYPES:
            return {r["file_name"]: str(reports_dir / backtest_id / r["file_name"]) for r in reports}
        if time.monotonic() > deadline:
            raise CliError(f"no reports for {backtest_id} after {timeout_s:.0f} s; see .bts/logs/reporting.log")
        time.sleep(0.2)


def _run(settings: Settings, stack: Stack) -> None:
    files = write_sample_files(stack.state_dir / "samples")
    with Gateway(GatewayAccess(settings.api_url, stack.demo_key)) as gateway:
        register_and_load(gateway, files)
        strategies = create_strategies(gateway)
        submitted = {}
        for title, strategy_id in strategies.items():
            accepted = gateway.post(
                "/backtests",
                json={
                    "strategy_id": strategy_id,
                    "instrument_ids": TRADED,
                    "start_date": "2019-01-02",
                    "end_date": "2024-12-31",
                    "position_size_pct": "10",
                    "benchmark_symbol": "SPY",
                },
            )
            submitted[accepted["id"]] = title
        final = wait_all(gateway, submitted)
        rows: list[tuple[str, dict[str, Any] | None, int]] = []
        paths: dict[str, str] = {}
        for backtest_id, title in submitted.items():
            if final[backtest_id]["status"] == BacktestStatus.FAILED:
                rows.append((f"{title} FAILED: {final[backtest_id]['error_message']}", None, 0))
                continue
            result = gateway.get(f"/backtests/{backtest_id}/result")
            rows.append((title, result["metrics"], result["trades_count"]))
            paths[title] = _reports(gateway, backtest_id, stack.state_dir / "reports").get("report.html", "")
    symbols = ", ".join(s for s in SYMBOLS if s != "SPY")
    out.print(metrics_table(f"{symbols} daily 2019-2024, 10% per position, IBKR-like costs, vs SPY", rows))
    for title, path in paths.items():
        out.print(f"{title}: {path}", soft_wrap=True)
    out.print(f"gateway was {settings.api_url} (OpenAPI at /docs); service logs in {stack.state_dir / 'logs'}")


def run_demo(settings: Settings) -> None:
    started = time.monotonic()
    stack = Stack(settings, lambda line: out.print(line))
    try:
        stack.start()
        out.print(f"web console: {console_url(settings.api_url)}  (sign in with the demo key {stack.demo_key})")
        _run(settings, stack)
    finally:
        out.print("stopping ...")
        stack.stop()
    out.print(f"demo finished in {time.monotonic() - started:.0f} s")
