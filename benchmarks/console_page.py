"""Benchmark: the console's backtests page with 1,000 backtests, in Debian's Chromium (Playwright).

    .venv/bin/python -m benchmarks.console_page [--runs 10]

Starts the stack as `bts up` does (embedded parts), inserts 1,000 finished backtests of the demo user
straight into the status read model (api.backtest_status), signs in, then loads /ui/backtests (25 and 100
rows a page) `--runs` times each with a warm cache and prints the medians of: the page weight (HTML, and
HTML + CSS + script as transferred), the server's time to the first byte, and the browser's first
contentful paint. Baseline in the same run: the REST read of the same page, `GET /api/v1/backtests?limit=N`
(its body size and time). Figures, not a test: a loaded machine makes them slower, nothing fails.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from playwright.sync_api import Page, sync_playwright

from bts.stackfile import read_stack
from bts.up import Stack
from shared.devstack.process import free_port
from shared.platform.apikeys import hash_key
from shared.platform.db.urls import asyncpg_dsn
from shared.platform.settings import Settings

BACKTESTS = 1_000
CHROMIUM = "/usr/bin/chromium"
STRATEGY_TYPES = ("SMA_CROSSOVER", "MEAN_REVERSION", "MOMENTUM")


async def insert_backtests(database_url: str, api_key: str, count: int) -> None:
    """`count` finished backtests of the key's user, written as the read model would hold them."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        user = await conn.fetchval("SELECT user_id FROM api.api_keys WHERE key_hash = $1", hash_key(api_key))
        now = datetime.now(UTC)
        rows = [
            (
                uuid.uuid4(),
                user,
                "FAILED" if i % 20 == 0 else "COMPLETED",
                100.0,
                now - timedelta(minutes=i),
                STRATEGY_TYPES[i % 3],
                ["AAPL.NASDAQ", "MSFT.NASDAQ"][: 1 + i % 2],
                date(2019, 1, 2),
                date(2024, 12, 31),
            )
            for i in range(count)
        ]
        await conn.executemany(
            "INSERT INTO api.backtest_status (id, user_id, status, progress_pct, submitted_at, updated_at, "
            "strategy_type, instrument_ids, start_date, end_date) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)",
            rows,
        )
    finally:
        await conn.close()


def sign_in(page: Page, key: str) -> None:
    page.goto("/ui")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/backtests")


def load_once(page: Page, path: str) -> dict[str, float]:
    page.goto(path, wait_until="load")
    timing: dict[str, Any] = page.evaluate(
        """() => new Promise((resolve) => {
          const nav = performance.getEntriesByType('navigation')[0];
          const done = (paint) => resolve({
            html: nav.encodedBodySize,
            ttfb: nav.responseStart - nav.requestStart,
            fcp: paint ? paint.startTime : -1,
            rows: document.querySelectorAll('#backtests tbody tr').length,
          });
          // the paint entry can come after the load event: wait for it (buffered), at most 10 s
          new PerformanceObserver((list) => {
            const fcp = list.getEntries().find((p) => p.name === 'first-contentful-paint');
            if (fcp) done(fcp);
          }).observe({ type: 'paint', buffered: true });
          setTimeout(() => done(null), 10000);
        })"""
    )
    return {k: float(v) for k, v in timing.items()}


def rest_once(client: httpx.Client, limit: int) -> tuple[float, int]:
    started = time.perf_counter()
    answer = client.get("/api/v1/backtests", params={"limit": limit})
    answer.raise_for_status()
    return (time.perf_counter() - started) * 1000, len(answer.content)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(state_dir=Path(tmp), api_url=f"http://127.0.0.1:{free_port()}")
        stack = Stack(settings, lambda line: print(line, flush=True))
        stack.start(ready_timeout=600)  # a shared machine can be slow to start five processes
        try:
            found = read_stack(Path(tmp))
            assert found is not None
            asyncio.run(insert_backtests(found.database_url, stack.demo_key, BACKTESTS))
            measure(settings.api_url, stack.demo_key, args.runs)
        finally:
            stack.stop()


def measure(url: str, key: str, runs: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers) as client, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(base_url=url, viewport={"width": 1280, "height": 900})
        sign_in(page, key)
        assets = sum(len(client.get(f"/ui/static/{name}").content) for name in ("console.css", "console.js"))
        print(f"\n{BACKTESTS:,} backtests of one user; medians of {runs} warm loads")
        for limit in (25, 100):
            path = f"/ui/backtests?limit={limit}"
            load_once(page, path)  # warm-up: CSS and script cached from here on, as for a user moving around
            loads = [load_once(page, path) for _ in range(runs)]
            rest = [rest_once(client, limit) for _ in range(runs)]
            median = {k: statistics.median(run[k] for run in loads) for k in loads[0]}
            last = load_once(page, f"{path}&offset={BACKTESTS - limit}")
            print(
                f"/ui/backtests limit={limit}: rows {median['rows']:.0f}, HTML {median['html'] / 1024:.1f} KiB, "
                f"with CSS + script {(median['html'] + assets) / 1024:.1f} KiB (uncompressed; assets cached after "
                "the first page), "
                f"time to first byte {median['ttfb']:.1f} ms, first contentful paint {median['fcp']:.1f} ms; "
                f"last page first paint {last['fcp']:.1f} ms"
            )
            print(
                f"  baseline GET /api/v1/backtests?limit={limit}: {statistics.median(r[1] for r in rest) / 1024:.1f} "
                f"KiB JSON, {statistics.median(r[0] for r in rest):.1f} ms"
            )
        browser.close()


if __name__ == "__main__":
    main()
