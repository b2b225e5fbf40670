"""`bts demo` as a newcomer runs it: real metrics for the three strategies and report files that exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.devstack.process import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_demo_runs_the_three_strategies_and_writes_reports(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    env.update(BTS_STATE_DIR=str(tmp_path / "state"), BTS_API_URL=f"http://127.0.0.1:{free_port()}", COLUMNS="160")
    result = subprocess.run([sys.executable, "-m", "bts", "demo"], env=env, capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for title in ("SMA 20/50 crossover", "Mean reversion z 2.0", "Momentum 60d > 5%"):
        row = next(line for line in out.splitlines() if line.startswith("│") and line.strip("│ ").startswith(title))
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert re.fullmatch(r"-?\d+\.\d%", cells[1]), cells  # total return
        assert int(cells[5]) > 0  # trades
    reports = re.findall(r"(/\S+/report\.html)", out)
    assert len(reports) == 3
    for report in reports:
        html = Path(report).read_text()
        assert html.count('class="plotly-graph-div"') == 8  # with the tear sheet's exposure and yearly returns
    assert f"web console: {env['BTS_API_URL']}/ui" in out
    assert "stopping ..." in out
    assert not (tmp_path / "state" / "stack.json").exists()
