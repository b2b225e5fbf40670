"""The report of a finished sweep: full reports of the children worth one, then the sweep's own HTML and CSV.

Children of a sweep get no report while the sweep runs: a report costs more CPU than a daily backtest
and writes megabytes, so a 10,000-run sweep would spend most of its time, and tens of gigabytes,
on reports nobody opens. When the sweep completes, the best `report_top` children and every
walk-forward out-of-sample run get the same reports as any backtest, and the sweep report links
them; every child's metrics are in its leaderboard (HTML: the best 500; leaderboard.csv: all).
Idempotent: the same sweep always writes the same paths.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pandas as pd

from services.reporting import repository
from services.reporting.domain.sweep_data import SweepReportData
from services.reporting.report_job import GeneratedReport, ResultNotFound, generate_reports, write_file
from shared.contracts.models.enums import SweepChildState, SweepPhase
from shared.contracts.models.walk_forward import WindowCurve, buy_and_hold, stitch, summary
from shared.contracts.sweep_rows import SweepChildRow
from shared.platform.db.reads import fetch_result, fetch_snapshots, fetch_sweep, fetch_sweep_children


class SweepNotFound(Exception):
    pass


async def _stitched(conn: asyncpg.Connection, data: SweepReportData) -> None:
    if data.sweep.walk_forward is None:
        return
    curves = []
    closes: list[pd.Series] = []
    for child in data.children:
        if child.phase != SweepPhase.OUT_OF_SAMPLE:
            continue
        ran = child.backtest_id is not None and child.state == SweepChildState.COMPLETED
        rows = await fetch_snapshots(conn, child.backtest_id, "DAILY") if ran and child.backtest_id else []
        curves.append(
            WindowCurve(
                index=child.window_index or 0,
                dates=[r["timestamp"].date() for r in rows] or None,
                values=[float(r["total_value"]) for r in rows] or None,
                start=child.start_date,
                end=child.end_date,
            )
        )
        closes.append(await _benchmark_closes(conn, data, child))
    capital = float(data.sweep.configuration.get("initial_capital", 100_000))
    data.stitched = stitch(curves, capital)
    data.stitched_summary = summary(data.stitched, capital)
    found = [c for c in closes if not c.empty]
    if found:
        data.benchmark = buy_and_hold(pd.concat(found), data.stitched, capital)


async def _benchmark_closes(conn: asyncpg.Connection, data: SweepReportData, window: SweepChildRow) -> pd.Series:
    """The benchmark's closes over an out-of-sample window, as stored with its run or, for a flat window (no
    run completed), with any completed child of the sweep whose period covers the window."""
    covering = [
        c
        for c in data.children
        if c.state == SweepChildState.COMPLETED and c.start_date <= window.start_date and c.end_date >= window.end_date
    ]
    for child in ([window] if window.state == SweepChildState.COMPLETED else []) + covering:
        result = await fetch_result(conn, child.backtest_id) if child.backtest_id else None
        stored = ((result.series or {}).get("benchmark") or {}) if result else {}
        if stored.get("dates"):
            series = pd.Series(stored["values"], index=pd.DatetimeIndex(stored["dates"]), dtype=float)
            return series[
                (series.index >= pd.Timestamp(window.start_date)) & (series.index <= pd.Timestamp(window.end_date))
            ]
    return pd.Series(dtype=float)


def _render(data: SweepReportData, folder: Path, generated_at: datetime) -> list[tuple[str, Path, str, dict[str, Any]]]:
    # imported here, in the worker thread (plotly): see render_files
    from services.reporting.domain.sweep_render import render_leaderboard_csv, render_sweep_html

    files = [
        ("HTML", "report.html", render_sweep_html(data, generated_at)),
        ("CSV", "leaderboard.csv", render_leaderboard_csv(data)),
    ]
    written = []
    for report_type, name, content in files:
        path = folder / name
        digest = write_file(path, content)
        metadata = {
            "content": "sweep report" if report_type == "HTML" else "every child: parameters and metrics",
            "status": data.sweep.status,
            "bytes": path.stat().st_size,
            "children": len(data.children),
            "objective": data.sweep.objective,
            "format_version": 1,
        }
        written.append((report_type, path, digest, metadata))
    return written


async def generate_sweep_report(
    conn: asyncpg.Connection, sweep_id: UUID, reported: list[UUID], reports_dir: Path, now: datetime | None = None
) -> tuple[list[tuple[UUID, GeneratedReport]], list[GeneratedReport]]:
    """The children's reports (backtest id, report) and the sweep's files."""
    generated_at = now or datetime.now(UTC)
    sweep = await fetch_sweep(conn, sweep_id)
    if sweep is None:
        raise SweepNotFound(f"sweep {sweep_id} does not exist")
    data = SweepReportData(sweep=sweep, children=await fetch_sweep_children(conn, sweep_id))
    folder = reports_dir / "sweeps" / str(sweep_id)
    children: list[tuple[UUID, GeneratedReport]] = []
    for backtest_id in reported:
        try:
            made = await generate_reports(conn, backtest_id, reports_dir, generated_at)
        except ResultNotFound:
            continue
        children += [(backtest_id, r) for r in made]
        html = next((r for r in made if r.report_type == "HTML"), None)
        if html is not None:
            # the sweep's folder is reports/sweeps/<id>/: two levels below the children's reports/<id>/
            data.report_links[backtest_id] = "../../" + Path(html.file_path).relative_to(reports_dir).as_posix()
    await _stitched(conn, data)
    written = await asyncio.to_thread(_render, data, folder, generated_at)
    own: list[GeneratedReport] = []
    async with conn.transaction():
        for report_type, path, digest, metadata in written:
            report_id = await repository.upsert_report(
                conn,
                repository.SWEEP_REPORTS,
                uuid.uuid5(sweep_id, str(path)),
                sweep_id,
                report_type,
                str(path),
                digest,
                generated_at,
                metadata,
            )
            own.append(GeneratedReport(report_id, report_type, str(path), digest))
    return children, own
