"""The promise every fault test checks after its fault: within a stated bound every job is terminal,
nothing is duplicated, and every COMPLETED result has its reports.

One definition, used by every module in tests/faults: `await settled(database_url, within_s=...)`
polls the owners' tables (the admin URL of the stack, e.g. `StackFile.database_url`) until no
problem is left, and fails with the list of what is still wrong when the bound passes.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from shared.platform.db.urls import asyncpg_dsn

# Each query returns one text per problem; an empty answer from all of them means "settled".
CHECKS: dict[str, str] = {
    "backtest not terminal (gateway)": (
        "SELECT id::text || ' ' || status FROM api.backtest_status WHERE status NOT IN ('COMPLETED', 'FAILED')"
    ),
    "import job not terminal": (
        "SELECT id::text || ' ' || status FROM api.import_jobs WHERE status NOT IN ('COMPLETED', 'FAILED')"
    ),
    "sweep not terminal": (
        "SELECT id::text || ' ' || status FROM api.sweeps WHERE status NOT IN ('COMPLETED', 'FAILED')"
    ),
    "result not terminal (engine)": (
        "SELECT id::text || ' ' || status FROM engine.backtest_results WHERE status NOT IN ('COMPLETED', 'FAILED')"
    ),
    "gateway status contradicts the engine": (
        "SELECT s.id::text || ' gateway ' || s.status || ', engine ' || r.status "
        "FROM api.backtest_status s JOIN engine.backtest_results r ON r.id = s.id WHERE s.status <> r.status"
    ),
    "gateway shows a backtest the engine never had": (
        "SELECT s.id::text || ' ' || s.status FROM api.backtest_status s "
        "WHERE s.status = 'COMPLETED' AND NOT EXISTS (SELECT 1 FROM engine.backtest_results r WHERE r.id = s.id)"
    ),
    # Sweep children get a report only when they are among the sweep's best, so they are left out.
    "COMPLETED result without its HTML, CSV and JSON reports": (
        "SELECT r.id::text FROM engine.backtest_results r WHERE r.status = 'COMPLETED' "
        "AND r.request ->> 'sweep_id' IS NULL AND (SELECT count(DISTINCT p.report_type) "
        "FROM reporting.performance_reports p WHERE p.backtest_result_id = r.id) < 3"
    ),
    "duplicated report": (
        "SELECT backtest_result_id::text || ' ' || report_type || ' x' || count(*) "
        "FROM reporting.performance_reports WHERE report_type IN ('HTML', 'JSON') "
        "GROUP BY backtest_result_id, report_type HAVING count(*) > 1"
    ),
    "duplicated trade": (
        "SELECT backtest_result_id::text || ' ' || instrument_id || ' ' || entry_time::text || ' x' || count(*) "
        "FROM engine.trades GROUP BY backtest_result_id, instrument_id, entry_time, side HAVING count(*) > 1"
    ),
}


async def problems(conn: asyncpg.Connection) -> list[str]:
    """Every invariant violation now, as '<check>: <row>' lines."""
    found: list[str] = []
    for name, sql in CHECKS.items():
        found.extend(f"{name}: {row[0]}" for row in await conn.fetch(sql))
    return found


async def settled(database_url: str, within_s: float, poll_s: float = 0.5) -> float:
    """Wait until no invariant is violated; the seconds it took. Fails listing what is left after `within_s`."""
    started = time.monotonic()
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        while True:
            left = await problems(conn)
            if not left:
                return time.monotonic() - started
            if time.monotonic() - started > within_s:
                shown = "\n".join(left[:30])
                raise AssertionError(f"not settled within {within_s:.0f} s ({len(left)} problem(s)):\n{shown}")
            await asyncio.sleep(poll_s)
    finally:
        await conn.close()
