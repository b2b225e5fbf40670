"""Benchmark: CSV ingest vs. the physical floor (`psql \\copy` into an identical table), same run.

    .venv/bin/python -m benchmarks.ingest_csv [--rows 1000000]

Generates N one-minute bars (FX, 24/5 calendar, so every row is valid), then measures:
  1. floor: `psql \\copy` of that file into a table identical to ingest.market_data (same columns,
     constraints, primary key and monthly partitions);
  2. ingest: the full service path (parse + validate + binary COPY into staging + merge), first
     import into an empty range;
and prints both rates, the ratio (goal >= 0.5) and the peak RSS of the ingest run (goal < 300 MB),
measured in a child process so the floor and generation do not count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from shared.devstack.postgres import psql_path

INSTRUMENT = "EUR/USD.IDEALPRO"


def generate(path: Path, rows: int) -> None:
    stamps = pd.date_range("2020-01-06", periods=int(rows * 1.5), freq="min", tz="UTC")
    stamps = stamps[stamps.dayofweek < 5][:rows]
    rng = np.random.default_rng(7)
    mid = 1.10 + np.cumsum(rng.normal(0, 0.0002, rows))
    open_, close = np.round(mid + rng.normal(0, 0.0001, rows), 5), np.round(mid, 5)
    frame = pd.DataFrame(
        {
            "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open": open_,
            "high": np.round(np.maximum(open_, close) + 0.0001, 5),
            "low": np.round(np.minimum(open_, close) - 0.0001, 5),
            "close": close,
            "volume": rng.integers(0, 10_000, rows),
        }
    )
    frame.to_csv(path, index=False)


def psql(url: str, sql: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(psql_path()), url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)
    return time.perf_counter() - start


def floor_seconds(url: str, path: Path) -> float:
    psql(
        url,
        "CREATE TABLE ingest.copy_floor (LIKE ingest.market_data INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
        'PRIMARY KEY (instrument_id, timeframe, "timestamp")) PARTITION BY RANGE ("timestamp")',
    )
    psql(
        url,
        f"ALTER TABLE ingest.copy_floor ALTER instrument_id SET DEFAULT '{INSTRUMENT}', "
        "ALTER timeframe SET DEFAULT 'BAR_1MIN'",
    )
    psql(url, "SELECT ingest.ensure_partitions('ingest.copy_floor'::regclass, 'month', '2019-01-01', '2024-12-31')")
    return psql(
        url,
        f"\\copy ingest.copy_floor (\"timestamp\", open, high, low, close, volume) FROM '{path}' "
        "WITH (FORMAT csv, HEADER true)",
    )


def _peak_rss_mb() -> float:
    """This process's own high-water mark (VmHWM). Not getrusage: Linux carries ru_maxrss across exec,
    so a child would report its parent's peak (here: the generated 1M-row frame)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _ingest(url: str, path: Path) -> dict[str, float]:
    import asyncpg

    from services.ingest.csv_import import ImportPlan, import_csv
    from services.ingest.domain.sessions import SessionTable
    from shared.domain.calendars import calendar_for
    from shared.platform.db.urls import role_url

    base_mb = _peak_rss_mb()
    sessions = SessionTable(calendar_for("IDEALPRO"))
    conn = await asyncpg.connect(role_url(url, "ingest", "bts"))
    try:
        start = time.perf_counter()
        async with conn.transaction():
            outcome = await import_csv(conn, ImportPlan(path, INSTRUMENT, "BAR_1MIN", sessions))
        seconds = time.perf_counter() - start
    finally:
        await conn.close()
    rss_mb = _peak_rss_mb()
    return {"seconds": seconds, "rows": outcome.rows_loaded, "rss_mb": rss_mb, "rss_after_imports_mb": base_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_ingest(args.child[0], Path(args.child[1])))))
        return
    from benchmarks.common import migrated_database  # here, so the measured child does not load alembic

    with tempfile.TemporaryDirectory(prefix="bts-bench-") as tmp, migrated_database() as url:
        path = Path(tmp) / "bars.csv"
        generate(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        floor = floor_seconds(url, path)
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.ingest_csv", "--child", url, str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        assert result["rows"] == args.rows, result
        floor_rate, ingest_rate = args.rows / floor, args.rows / result["seconds"]
        print(f"file: {args.rows:,} one-minute bars, {size_mb:.0f} MB")
        print(f"floor  psql \\copy into identical table: {floor:6.2f} s  {floor_rate:>10,.0f} rows/s")
        print(f"ingest parse+validate+COPY+merge:       {result['seconds']:6.2f} s  {ingest_rate:>10,.0f} rows/s")
        print(f"ratio ingest/floor: {ingest_rate / floor_rate:.2f}  (goal >= 0.50)")
        print(
            f"peak RSS of the ingest process: {result['rss_mb']:.0f} MB  (goal < 300 MB; "
            f"{result['rss_after_imports_mb']:.0f} MB of it after imports, before the file)"
        )


if __name__ == "__main__":
    main()
