"""Generate the three reports of one backtest result: files under the state dir, rows with their SHA-256.

Idempotent: the same result always writes the same paths, so a redelivered backtest.completed
replaces files and updates rows instead of duplicating them. A FAILED result gets one short HTML
report that says why, and no charts of nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pandas as pd

from services.reporting import repository
from services.reporting.domain.report_data import ReportData
from shared.contracts.models.enums import TERMINAL_STATUSES, BacktestStatus
from shared.platform.db.reads import ResultRow, fetch_result, fetch_snapshots, fetch_trades


@dataclass(frozen=True)
class GeneratedReport:
    id: UUID
    report_type: str
    file_path: str
    content_hash: str


class ResultNotFound(Exception):
    pass


class ResultNotFinished(Exception):
    """The engine's result is PENDING or RUNNING: an event ahead of the run's end (a forged one) makes no report.
    Raised inside the idempotent transaction, so the event is not marked done: it is tried again, and the run's
    own event still makes the reports."""


def _series(values: dict[str, Any] | None) -> pd.Series | None:
    if not values or not values.get("dates"):
        return None
    return pd.Series(values["values"], index=pd.DatetimeIndex(values["dates"]), dtype=float)


def _configuration(result: ResultRow) -> dict[str, Any]:
    request = result.request or {}
    config = dict(request.get("configuration", {}))
    strategy = request.get("strategy", {})
    config.update(
        strategy_type=strategy.get("strategy_type", config.get("strategy_type")),
        strategy_name=strategy.get("name"),
        parameters=strategy.get("parameters", config.get("parameters")),
    )
    return {k: v for k, v in config.items() if v is not None and k != "id"}


async def load_report_data(conn: asyncpg.Connection, result_id: UUID) -> ReportData:
    result = await fetch_result(conn, result_id)
    if result is None:
        raise ResultNotFound(f"backtest result {result_id} does not exist")
    if result.status not in TERMINAL_STATUSES:
        raise ResultNotFinished(f"backtest result {result_id} is {result.status}: reported once it has finished")
    trades = pd.DataFrame([dict(r) for r in await fetch_trades(conn, result_id)])
    daily = pd.DataFrame([dict(r) for r in await fetch_snapshots(conn, result_id, "DAILY")])
    if not daily.empty:
        daily["positions"] = daily["positions"].map(lambda p: json.loads(p) if isinstance(p, str) else p)
        daily["timestamp"] = pd.DatetimeIndex(daily["timestamp"]).tz_convert(None).normalize()
    series = result.series or {}
    prices = {k: s for k, v in series.get("closes", {}).items() if (s := _series(v)) is not None}
    return ReportData(
        backtest_id=result.id,
        status=result.status,
        configuration=_configuration(result),
        metrics=result.metrics,
        trades=trades,
        daily=daily,
        prices=prices,
        benchmark=_series(series.get("benchmark")),
        error_message=result.error_message,
        warnings=result.warnings,
        started_at=result.started_at,
        completed_at=result.completed_at,
        open_pnl=result.open_pnl,
        benchmark_instrument_id=result.benchmark_instrument_id,
        timeframe=str((result.request or {}).get("timeframe") or "BAR_DAILY"),
    )


def write_file(path: Path, content: str) -> str:
    """Write atomically and return the SHA-256 of exactly the bytes written."""
    data = content.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def render_files(data: ReportData, folder: Path, generated_at: datetime) -> list[tuple[str, Path, str, dict[str, Any]]]:
    """CPU and file work (runs in a worker thread): render, write, hash. The tear sheet's figures are computed
    once for the HTML and the JSON."""
    # Imported here, in the worker thread: plotly, jinja2 and empyrical (scipy) cost seconds, which the service
    # does not spend before it is ready (the warm-up loads them right after).
    from services.reporting.domain.render import render_html, render_json, render_portfolio_csv, render_trades_csv
    from services.reporting.domain.tearsheet import extended_metrics

    completed = data.status == BacktestStatus.COMPLETED
    extended = extended_metrics(data) if completed and data.metrics is not None and not data.daily.empty else None
    files: list[tuple[str, str, str, dict[str, Any]]] = [
        ("HTML", "report.html", render_html(data, generated_at, extended), {"charts": completed}),
    ]
    if completed:
        files += [
            ("CSV", "trades.csv", render_trades_csv(data), {"content": "trades"}),
            ("CSV", "portfolio_daily.csv", render_portfolio_csv(data), {"content": "daily portfolio values"}),
            (
                "JSON",
                "result.json",
                render_json(data, generated_at, extended),
                {"content": "result, metrics, configuration"},
            ),
        ]
    written = []
    for report_type, name, content, meta in files:
        path = folder / name
        digest = write_file(path, content)
        # The report's configuration: what it shows and of which run, so a row is understandable alone.
        config = {k: data.configuration.get(k) for k in ("strategy_type", "instrument_ids", "start_date", "end_date")}
        metadata = {
            **meta,
            "status": data.status,
            "bytes": path.stat().st_size,
            "backtest": config,
            "format_version": 1,
        }
        written.append((report_type, path, digest, metadata))
    return written


async def generate_reports(
    conn: asyncpg.Connection, result_id: UUID, reports_dir: Path, now: datetime | None = None
) -> list[GeneratedReport]:
    generated_at = now or datetime.now(UTC)
    data = await load_report_data(conn, result_id)
    written = await asyncio.to_thread(render_files, data, reports_dir / str(result_id), generated_at)
    reports: list[GeneratedReport] = []
    async with conn.transaction():
        for report_type, path, digest, metadata in written:
            report_id = await repository.upsert_report(
                conn,
                repository.BACKTEST_REPORTS,
                uuid.uuid5(result_id, str(path)),
                result_id,
                report_type,
                str(path),
                digest,
                generated_at,
                metadata,
            )
            reports.append(GeneratedReport(report_id, report_type, str(path), digest))
    return reports
