"""Benchmark: `bts up` to ready on a fresh state dir.

    .venv/bin/python -m benchmarks.up_ready [--runs 3]

Each run starts `bts up` on a new, empty state dir (embedded PostgreSQL and Tansu, migrations, the four
services) and times it until its stack file appears, which `bts up` writes once every service answered
/ready; then it stops the stack. Prints each run with the load average beside it: the machine may be
shared, and the goal (<= 5 s) is for a quiet one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.integration.stack import started_stack


def time_to_ready() -> float:
    """Seconds from starting `bts up` on a fresh state dir until its stack file appears."""
    with tempfile.TemporaryDirectory(prefix="bts-bench-up-") as tmp:
        started = time.perf_counter()
        with started_stack(Path(tmp) / "state"):
            return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh stacks to start, one after the other")
    args = parser.parse_args()
    times = []
    for run in range(1, args.runs + 1):
        load = os.getloadavg()[0]
        seconds = time_to_ready()
        times.append(seconds)
        after = os.getloadavg()[0]
        print(f"run {run}: bts up -> ready {seconds:6.2f} s  (load average before {load:.2f}, after {after:.2f})")
    print(f"median {statistics.median(times):.2f} s over {len(times)} run(s) (goal <= 5 s on a quiet machine)")


if __name__ == "__main__":
    main()
