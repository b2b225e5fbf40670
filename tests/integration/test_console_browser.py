"""The web console in a real browser (Debian's Chromium driven by Playwright, no browser download) against one
`bts up` stack for the whole module: sign in, upload a CSV with its progress bar, create a strategy, submit a
backtest and watch it finish without a reload, open its report, run a small sweep, watch consumer lag move and
replay a dead letter as an admin; a non-admin gets 403 on operations and 404 on another user's backtest; a form
without its CSRF token is refused.

Set BTS_CONSOLE_SCREENSHOTS=DIR to keep a screenshot of each main page there (docs/console-*.png come from it),
and BTS_CONSOLE_TEST_STATE=DIR to drive a `bts up` already running with that state dir instead of starting one.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from bts.sample_data import daily_bars
from bts.stackfile import read_stack
from services.api.users import create_user
from shared.contracts import topics
from shared.devstack.process import free_port
from shared.platform.db.urls import asyncpg_dsn

pytestmark = pytest.mark.integration
playwright_sync = pytest.importorskip("playwright.sync_api")

T = TypeVar("T")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WAIT_MS = 180_000  # generous: the machine is shared; no assertion depends on speed
SHOTS = os.environ.get("BTS_CONSOLE_SCREENSHOTS")


@dataclass(frozen=True)
class Stack:
    url: str
    admin_key: str
    user_key: str
    database_url: str
    kafka_bootstrap: str


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            lines.append(line.rstrip())
            if needle in line:
                return lines
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.1)
    raise AssertionError(f"no {needle!r} in the output of bts up:\n" + "\n".join(lines))


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own thread: Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _plain_user(database_url: str) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return (await create_user(conn, f"researcher-{uuid.uuid4().hex[:6]}")).api_key
    finally:
        await conn.close()


def _stack_of(state: Path, admin_key: str) -> Stack:
    found = read_stack(state)
    assert found is not None, f"no running stack in {state}"
    user_key = _run(_plain_user(found.database_url))
    return Stack(found.api_url, admin_key, user_key, found.database_url, found.kafka_bootstrap)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reused = os.environ.get("BTS_CONSOLE_TEST_STATE")
    if reused:
        yield _stack_of(Path(reused), (Path(reused) / "demo.key").read_text().strip())
        return
    state = tmp_path_factory.mktemp("console") / "state"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    env.update(BTS_STATE_DIR=str(state), BTS_API_URL=f"http://127.0.0.1:{port}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bts", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines = _wait_for_line(proc, "Press Ctrl-C", timeout=400)
        assert f"web console: http://127.0.0.1:{port}/ui" in lines
        admin_key = next(m.group(0) for line in lines if (m := re.search(r"bts_[A-Za-z0-9_-]+", line)))
        yield _stack_of(state, admin_key)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def _signed_in(browser: object, stack: Stack, key: str) -> object:
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto("/ui")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/backtests")
    return page


def _shot(page: object, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"), full_page=True)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def admin_page(browser: object, stack: Stack) -> object:
    return _signed_in(browser, stack, stack.admin_key)


@pytest.fixture(scope="module")
def instrument(stack: Stack) -> str:
    """AAPL.NASDAQ registered by the admin (the console uploads bars; registering stays a REST/CLI task)."""
    body = {
        "id": "AAPL.NASDAQ",
        "symbol": "AAPL",
        "exchange": "NASDAQ",
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": 1,
        "margin_requirement": "25",
    }
    answer = httpx.post(
        f"{stack.url}/api/v1/instruments", json=body, headers={"Authorization": f"Bearer {stack.admin_key}"}
    )
    assert answer.status_code in (200, 201), answer.text
    return "AAPL.NASDAQ"


def test_upload_strategy_backtest_report_without_reload(admin_page: object, instrument: str, tmp_path: Path) -> None:
    page = admin_page
    csv = tmp_path / "aapl.csv"
    daily_bars("AAPL", "2019-01-01", "2020-12-31").to_csv(csv, index=False)
    page.goto("/ui/data")
    page.get_by_label("Instrument").fill(instrument)
    page.get_by_label("Timeframe").select_option("BAR_DAILY")
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Upload").click()
    page.locator("#upload-state", has_text="import completed").wait_for()
    assert page.locator("#upload-progress").evaluate("bar => bar.value") == 100
    assert "loaded" in page.locator("#upload-job").inner_text()
    page.goto("/ui/data")
    assert instrument in page.locator("table").first.inner_text()  # coverage
    _shot(page, "data")

    page.goto("/ui/strategies?type=SMA_CROSSOVER")
    page.get_by_label("Name").fill(f"SMA 10/30 from the console {uuid.uuid4().hex[:6]}")
    page.get_by_label("fast_period").fill("0")  # out of range: the API's error shows next to the field
    page.get_by_label("slow_period").fill("30")
    page.get_by_role("button", name="Create (DRAFT)").click()
    assert "greater than or equal to 1" in page.locator("#err-parameters-fast_period").inner_text()
    page.get_by_label("fast_period").fill("10")
    page.get_by_role("button", name="Create (DRAFT)").click()
    page.wait_for_url(re.compile(r"/ui/strategies/[0-9a-f-]{36}$"))
    page.get_by_role("button", name="Activate").click()
    strategy = page.url
    page.goto("/ui/strategies")
    _shot(page, "strategies")
    page.goto(strategy)
    page.get_by_role("link", name="Backtest", exact=True).click()

    page.get_by_label("Instruments").fill(instrument)
    page.get_by_label("Start date").fill("2019-01-02")
    page.get_by_label("End date").fill("2020-12-31")
    _shot(page, "submit")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/ui/backtests/[0-9a-f-]{36}$"))
    page.evaluate("window.notReloaded = true")  # gone if the page reloads
    page.locator('[data-field="status"]', has_text="COMPLETED").wait_for()
    page.locator("iframe.report").wait_for()
    assert page.evaluate("window.notReloaded") is True
    assert "Total return" in page.locator("#backtest-panel").inner_text()
    report = page.frame_locator("iframe.report")
    report.locator("h1").first.wait_for()
    _shot(page, "backtest")

    page.goto("/ui/backtests")
    assert "COMPLETED" in page.locator("#backtests").inner_text()
    _shot(page, "backtests")


def test_backtests_list_follows_a_running_backtest_live(admin_page: object, instrument: str) -> None:
    page = admin_page
    page.goto("/ui/backtests/new")
    page.get_by_label("Instruments").fill(instrument)
    page.get_by_label("Start date").fill("2019-01-02")
    page.get_by_label("End date").fill("2020-12-31")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/ui/backtests/[0-9a-f-]{36}$"))
    backtest_id = page.url.rsplit("/", 1)[1]
    page.goto("/ui/backtests")
    page.evaluate("window.notReloaded = true")
    row = page.locator(f'tr[data-backtest="{backtest_id}"]')
    row.locator('[data-field="status"]', has_text="COMPLETED").wait_for()
    assert page.evaluate("window.notReloaded") is True


def test_small_sweep_runs_with_its_leaderboard_and_heatmap(admin_page: object, instrument: str) -> None:
    page = admin_page
    page.goto("/ui/sweeps")
    page.get_by_label("Strategy type").select_option("SMA_CROSSOVER")
    page.get_by_label("Grid").fill("fast_period = 5, 10\nslow_period = 30, 50")
    page.get_by_label("Instruments").fill(instrument)
    page.get_by_label("Start date").fill("2019-01-02")
    page.get_by_label("End date").fill("2020-12-31")
    page.get_by_role("button", name="Run the sweep").click()
    page.wait_for_url(re.compile(r"/ui/sweeps/[0-9a-f-]{36}$"))
    page.locator("[data-finished]").wait_for()
    assert "COMPLETED" in page.locator('[data-field="status"]').inner_text()
    assert page.locator("table").first.locator("tbody tr").count() == 4
    assert page.locator("table.heat").count() == 1
    _shot(page, "sweep")


def _until(condition: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.5)


def test_compare_overlays_the_ticked_backtests(admin_page: object) -> None:
    page = admin_page
    page.goto("/ui/backtests?status=COMPLETED")
    boxes = page.locator('#backtests input[name="ids"]')
    assert boxes.count() >= 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Compare the ticked ones").click()
    page.wait_for_url(re.compile(r"/ui/compare\?ids="))
    assert page.locator("svg.chart polyline").count() == 2
    assert "sharpe_ratio" in page.locator("table").first.inner_text()
    _shot(page, "compare")


async def _publish_garbage(bootstrap: str, count: int) -> None:
    async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
        for _ in range(count):
            await producer.send_and_wait(topics.BACKTEST_REQUESTED, b"not json", key=b"console-test")


def test_admin_sees_lag_move_and_replays_a_dead_letter(admin_page: object, stack: Stack) -> None:
    page = admin_page
    page.goto("/ui/ops")
    rows = page.locator('[data-field="lag-rows"]')
    page.locator('[data-field="lag-updated"]', has_text="updated").wait_for()
    before = rows.inner_text()
    _run(_publish_garbage(stack.kafka_bootstrap, 3))  # unparseable: dead-lettered by its consumers
    _until(lambda: rows.inner_text() != before, "the lag table did not change")
    assert page.locator("#lag-history polyline").get_attribute("points")
    _shot(page, "ops")

    def dead_letter_listed() -> bool:
        page.goto(f"/ui/ops?dlq={topics.BACKTEST_REQUESTED}")
        return int(page.locator('[data-field="dlq-pending"]').inner_text()) > 0

    _until(dead_letter_listed, "no dead letter arrived")
    assert "not json" in page.content() or "parse" in page.content().lower() or "JSON" in page.content()
    page.get_by_role("button", name=re.compile("Replay the")).click()
    replayed = page.locator(".ok", has_text="Replayed")
    replayed.wait_for()
    assert int(re.search(r"Replayed (\d+)", replayed.inner_text()).group(1)) >= 1  # type: ignore[union-attr]


def test_a_researcher_gets_403_on_operations_and_404_on_anothers_backtest(
    browser: object, stack: Stack, admin_page: object
) -> None:
    admin_page.goto("/ui/backtests")  # type: ignore[attr-defined]
    link = admin_page.locator("#backtests a").first  # type: ignore[attr-defined]
    theirs = link.get_attribute("href")
    page = _signed_in(browser, stack, stack.user_key)
    assert page.goto("/ui/ops").status == 403
    assert "admins" in page.content()
    assert page.goto(theirs).status == 404
    assert page.goto(f"{theirs}/events").status == 404
    assert "Operations" not in page.locator("nav").inner_text()
    assert page.goto("/ui/no-such-page").status == 404
    assert "no page /ui/no-such-page" in page.content()


def test_a_form_without_its_csrf_token_is_refused(admin_page: object) -> None:
    page = admin_page
    page.goto("/ui/strategies?type=SMA_CROSSOVER")
    page.evaluate("document.querySelectorAll('form[method=post] input[name=csrf_token]').forEach(e => e.remove())")
    page.get_by_label("Name").fill("no token")
    page.get_by_label("fast_period").fill("10")
    page.get_by_label("slow_period").fill("30")
    with page.expect_response(lambda r: r.url.endswith("/ui/strategies") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Create (DRAFT)").click()
    assert answer.value.status == 403
    assert "CSRF" in page.content()
    page.goto("/ui/strategies")
    assert "no token" not in page.locator("table").first.inner_text()
