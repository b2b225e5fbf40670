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
from services.reporting.domain.sweep_render import render_sweep_html
from shared.presentation.comparison import render_comparison_html
from tests.unit.test_comparison import _comparison
from tests.unit.test_sweep_report import walk_forward_data

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHARTS = ("equity", "drawdown", "exposure", "yearly", "monthly", "rolling", "trades", "pnl")
TEAR_SHEET = ("tear-risk", "tear-activity", "tear-drawdowns", "tear-years", "tear-instruments")


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
    for section in TEAR_SHEET:  # the tear sheet's tables, filled in
        found = re.search(rf'<section id="{section}">(.*?)</section>', result.stdout, re.S)
        assert found, section
        assert found.group(1).count("<tr>") >= 2, section
    assert "Calmar ratio" in result.stdout
    assert "Daily CVaR (95%, historical)" in result.stdout
    assert re.search(r"<td>\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC</td>", result.stdout)  # trade times with their zone
    shot = tmp_path / "report.png"
    _chromium(page, tmp_path / "profile2", f"--screenshot={shot}")
    assert shot.stat().st_size > 100_000


def test_the_console_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>undefinedFunction()</script></body></html>")
    result = _chromium(page, tmp_path / "profile", "--dump-dom")
    assert any("Uncaught ReferenceError" in line for line in result.stderr.splitlines())


def test_walk_forward_report_renders_offline_with_the_benchmark_and_flat_windows(tmp_path: Path) -> None:
    page = tmp_path / "sweep.html"
    page.write_text(render_sweep_html(walk_forward_data(), datetime.now(UTC)))
    result = _chromium(page, tmp_path / "profile", "--dump-dom")
    assert re.search(r'<div id="chart-stitched" class="[^"]*js-plotly-plot', result.stdout)
    assert "buy and hold" in result.stdout  # the benchmark's trace, drawn
    assert "FLAT (no signal: in cash, 0%)" in result.stdout
    assert "Walk-forward efficiency" in result.stdout
    assert [line for line in result.stderr.splitlines() if ":CONSOLE" in line] == []


def test_the_comparison_pages_configuration_table_wraps_instead_of_overflowing(tmp_path: Path) -> None:
    comparison = _comparison()
    for n, backtest in enumerate(comparison["backtests"]):  # long JSON parameters and many instruments
        backtest["parameters"] = {f"parameter_with_a_long_name_{i}": i * 1000 + n for i in range(12)}
        backtest["instrument_ids"] = [f"INSTRUMENT{i}.NASDAQ" for i in range(10)]
    measure = (
        "<script>window.addEventListener('load', () => { const d = document.createElement('div'); d.id = 'widths';"
        " d.textContent = document.documentElement.scrollWidth + '/' + window.innerWidth;"
        " document.body.appendChild(d); });</script></body>"
    )
    page = tmp_path / "comparison.html"
    page.write_text(render_comparison_html(comparison, datetime.now(UTC)).replace("</body>", measure))
    result = _chromium(page, tmp_path / "profile", "--dump-dom")
    found = re.search(r'<div id="widths">(\d+)/(\d+)</div>', result.stdout)
    assert found, "the page did not report its widths"
    assert int(found.group(1)) <= int(found.group(2))  # no sideways scrolling
