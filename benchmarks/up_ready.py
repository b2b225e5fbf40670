"""Benchmark: `bts up` to ready on a fresh state dir.

    .venv/bin/python -m benchmarks.up_ready [--runs 3]

Each run starts `bts up` on a new, empty state dir (embedded PostgreSQL and Tansu, migrations, the four
services) and times it until its stack file appears, which `bts up` writes once every service answered
/ready; then it stops the stack. Prints each run with the load average beside it: the machine may be
shared, and the goal (<= 5 s) is for a quiet one. Run it once `make test` or `make demo` has written the
bytecode: where PYTHONDONTWRITEBYTECODE is set and none was written, every service compiles its imports at
every start (9.4 s to ready instead of 6.4 s on 2026-12-07).

Baseline, in the same run: what `bts up` cannot do without, the embedded PostgreSQL and Tansu started on a
fresh state dir (a copy of the migrated template where there is one, as `bts up` makes it) and the schemas
migrated, in this process with no service; the difference is the services' own start (imports, connections,
the consumer groups' join).
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


def time_to_migrated() -> float:
    """Seconds to start the embedded database and broker on a fresh state dir and migrate the schemas."""
    from bts.migrations import migrate_all, migrated_template_name
    from shared.devstack.postgres import prepared_template
    from shared.devstack.stack import EmbeddedStack
    from shared.platform.settings import Settings

    # The same migrated template `bts up` copies, where there is one (docs/operations.md).
    template = prepared_template(migrated_template_name())
    with tempfile.TemporaryDirectory(prefix="bts-bench-up-") as tmp:
        settings = Settings(state_dir=Path(tmp) / "state")
        started = time.perf_counter()
        with EmbeddedStack(settings, template=template) as endpoints:
            migrate_all(endpoints.database_url, settings.db_role_password)
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
    floor = statistics.median(time_to_migrated() for _ in range(args.runs))
    ready = statistics.median(times)
    print(f"median {ready:.2f} s over {len(times)} run(s) (goal <= 5 s on a quiet machine)")
    print(f"baseline: database and broker started, schemas migrated, no service: {floor:.2f} s (median)")
    print(f"ratio {ready / floor:.2f}; the services' own start adds {ready - floor:.2f} s")


if __name__ == "__main__":
    main()
