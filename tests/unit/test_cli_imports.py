"""The CLI answers at once: its help and its client commands import no service package and none of the heavy
libraries (pandas, numpy, plotly, NautilusTrader, the database drivers). Checked on what a fresh `bts`
process has imported, not on a clock, so a loaded machine fails nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# Top-level packages a client command must not load (each costs more than the CLI's own start).
HEAVY = (
    "services",
    "pandas",
    "numpy",
    "plotly",
    "nautilus_trader",
    "empyrical",
    "exchange_calendars",
    "sqlalchemy",
    "asyncpg",
    "aiokafka",
    "jinja2",
    "pydantic_settings",  # the services' settings: a client reads BTS_API_URL and BTS_API_KEY alone
)

# typer 0.29 builds each option's converter with pydantic: ~0.08 s of a subcommand's start (docs/cli.md).
NOT_IN_HELP = ("pydantic",)

# Runs `bts ARGS...` in this process as the console script does, then writes the modules it loaded and its exit.
RUN_BTS = """
import json, sys
args, report = json.loads(sys.argv[1]), sys.argv[2]
sys.argv = ["bts", *args]
from bts.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
with open(report, "w") as file:
    json.dump({"modules": sorted(sys.modules), "exit": code}, file)
"""


@dataclass(frozen=True)
class Loaded:
    """What one `bts` process imported, printed and exited with."""

    modules: set[str]
    printed: str
    exit_code: int


def _modules_loaded_by(args: list[str], tmp_path: Path, **settings: str) -> Loaded:
    """The modules `bts ARGS` imported, what it printed and its exit code; `settings`: BTS_* variables it gets."""
    report = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    env["BTS_API_URL"] = "http://127.0.0.1:9"  # nothing listens there: a client command fails at once
    env.update(settings)
    done = subprocess.run(
        [sys.executable, "-c", RUN_BTS, json.dumps(args), str(report)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert report.exists(), done.stderr
    found = json.loads(report.read_text())
    return Loaded(set(found["modules"]), done.stdout + done.stderr, found["exit"] or 0)


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["backtest", "--help"],
        ["backtest", "list", "--help"],
        ["backtest", "submit", "--help"],
        ["backtest", "compare", "--help"],
        ["sweep", "submit", "--help"],
        ["ingest", "csv", "--help"],
        ["user", "create", "--help"],
        ["up", "--help"],
    ],
    ids=lambda args: " ".join(args),
)
def test_help_imports_no_service_and_no_heavy_library(args: list[str], tmp_path: Path) -> None:
    loaded = _modules_loaded_by(args, tmp_path)
    assert loaded.exit_code == 0, loaded.printed[-300:]  # the help, not a usage error ("No such command")
    assert "Usage" in loaded.printed
    assert _heavy(loaded.modules) == []
    assert [m for m in loaded.modules if m.split(".")[0] in NOT_IN_HELP] == []


@pytest.mark.parametrize(
    "args",
    [["backtest", "list"], ["strategy", "list"], ["sweep", "list"], ["key", "list"]],
    ids=lambda args: " ".join(args),
)
def test_client_commands_import_no_service_and_no_heavy_library(args: list[str], tmp_path: Path) -> None:
    """A client command runs to its first request (here refused: no key is set) on the light path."""
    loaded = _modules_loaded_by(args, tmp_path)
    assert "BTS_API_KEY is not set" in loaded.printed
    assert loaded.exit_code == 1
    assert "bts.gateway" in loaded.modules  # it got as far as the gateway client
    assert _heavy(loaded.modules) == []


def test_the_check_sees_a_heavy_import(tmp_path: Path) -> None:
    """The check is not vacuous: `bts migrate` (server side) loads the database stack, and it is seen."""
    # nothing listens there either: the migrations load their drivers, then fail to connect
    loaded = _modules_loaded_by(["migrate"], tmp_path, BTS_DATABASE_URL="postgresql://x:y@127.0.0.1:9/bts")
    assert "sqlalchemy" in _heavy(loaded.modules) or "asyncpg" in _heavy(loaded.modules)
