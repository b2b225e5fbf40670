"""Benchmark: how long `bts` takes to answer, against a bare Python start, measured in one run.

    .venv/bin/python -m benchmarks.cli_start              # 15 runs of each command
    .venv/bin/python -m benchmarks.cli_start --runs 31

Cases (each a fresh process, as a person or a script starts it):
  python -c pass:                 the interpreter alone (the baseline);
  import typer:                   the command-line framework alone (a floor for any typer CLI);
  bts --help, bts backtest --help, bts backtest list --help, bts sweep submit --help;
  bts backtest list (no key):     a client command up to its first request (refused at once: no BTS_API_KEY).
Prints the median and the fastest wall time of each, the median CPU time (user + system of the child,
which other load on the machine inflates much less than the wall time) and the medians' ratios to the
baseline. The goal is <= 0.25 s for every client command; the load average is printed beside them.

Bytecode caches are on, as in any installed copy: the children write them to a temporary
PYTHONPYCACHEPREFIX during the warm-up run, even where PYTHONDONTWRITEBYTECODE is set (this sandbox sets
it, and then every start compiles every module from source: about 0.5 s of the `bts --help` below).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

GOAL_S = 0.25


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    exit_code: int = 0  # what the command answers (a wrong command line would time its usage error)


def _cases() -> list[Case]:
    python = sys.executable
    bts = [python, "-m", "bts"]
    return [
        Case("python -c pass (baseline)", [python, "-c", "pass"]),
        Case("import typer (framework)", [python, "-c", "import typer"]),
        Case("bts --help", [*bts, "--help"]),
        Case("bts backtest --help", [*bts, "backtest", "--help"]),
        Case("bts backtest list --help", [*bts, "backtest", "list", "--help"]),
        Case("bts sweep submit --help", [*bts, "sweep", "submit", "--help"]),
        Case("bts backtest list (no key)", [*bts, "backtest", "list"], exit_code=1),
    ]


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time_once(argv: list[str], env: dict[str, str]) -> Timing:
    cpu, start = _children_cpu_s(), time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return Timing(time.perf_counter() - start, _children_cpu_s() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (the median is reported)")
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="bts-pycache-") as pycache:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BTS_") and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(BTS_API_URL="http://127.0.0.1:9", PYTHONPYCACHEPREFIX=pycache)
        _report(runs, env)


def _report(runs: int, env: dict[str, str]) -> None:
    cases = _cases()
    for case in cases:  # warm the file cache and the bytecode caches once, and check each answers as it should
        answer = subprocess.run(case.argv, env=env, capture_output=True, text=True, check=False)
        if answer.returncode != case.exit_code:
            said = (answer.stderr.strip() or answer.stdout.strip()).splitlines()[-1:]
            raise SystemExit(f"{case.name}: exit {answer.returncode}, expected {case.exit_code}: {said}")
    times: dict[str, list[Timing]] = {case.name: [] for case in cases}
    for _ in range(runs):  # interleaved, so a burst of load touches every case alike
        for case in cases:
            times[case.name].append(_time_once(case.argv, env))
    wall_base, cpu_base = _medians(times[cases[0].name])
    print(f"{runs} runs each; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(
        f"{'command':<28} {'wall median s':>14} {'fastest s':>10} {'x baseline':>11} "
        f"{'CPU median s':>13} {'x baseline':>11}  goal: wall <= {GOAL_S} s"
    )
    for case in cases:
        wall, cpu = _medians(times[case.name])
        fastest = min(t.wall_s for t in times[case.name])
        verdict = "met" if wall <= GOAL_S else "not met"
        print(
            f"{case.name:<28} {wall:>14.3f} {fastest:>10.3f} {wall / wall_base:>11.1f} "
            f"{cpu:>13.3f} {cpu / cpu_base:>11.1f}  {verdict if case.name.startswith('bts') else ''}"
        )


def _medians(timings: list[Timing]) -> tuple[float, float]:
    return statistics.median(t.wall_s for t in timings), statistics.median(t.cpu_s for t in timings)


if __name__ == "__main__":
    main()
