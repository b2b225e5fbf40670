"""The HTML report in a real browser (headless Chromium), offline: every chart renders, no console error."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.reporting import backtest_report_data
from services.reporting.domain.render import render_html

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHARTS = ("equity", "drawdown", "monthly", "rolling", "trades", "pnl")


def _chromium(page: Path, profile: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is not installed: `make test` installs Debian's chromium package"
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            # No network at all: every host resolves to nothing and any proxy use fails.
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            "--window-size=1400,5200",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_report_renders_every_chart_offline_without_console_errors(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(backtest_report_data(), datetime.now(UTC)))
    result = _chromium(page, tmp_path / "profile", "--dump-dom")
    for chart in CHARTS:
        assert re.search(rf'<div id="chart-{chart}" class="[^"]*js-plotly-plot', result.stdout), chart
    assert result.stdout.count('class="main-svg"') >= len(CHARTS)
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    shot = tmp_path / "report.png"
    _chromium(page, tmp_path / "profile2", f"--screenshot={shot}")
    assert shot.stat().st_size > 100_000


def test_the_console_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>undefinedFunction()</script></body></html>")
    result = _chromium(page, tmp_path / "profile", "--dump-dom")
    assert any("Uncaught ReferenceError" in line for line in result.stderr.splitlines())
