"""One CSV import: stream, validate, binary-COPY into staging, merge. Runs inside the caller's transaction.

Strict by default: one bad row fails the job and nothing is written (the caller rolls back).
With `skip_invalid` the valid rows load and the rejects are reported the same way. Either way
rows_loaded + rows_rejected = the data rows of the file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import asyncpg
import numpy as np
import numpy.typing as npt

from services.ingest import repository, series_adjustment
from services.ingest.csv_source import CsvFileError, CsvSource
from services.ingest.domain.adj_close import missing_adj_close, note_for, scale_by_adj_close
from services.ingest.domain.bar_checks import check_chunk
from services.ingest.domain.csv_layout import ADJ_CLOSE
from services.ingest.domain.pgcopy import encode_rows
from services.ingest.domain.quality_report import LoadedBars, QualityReport, QualityScan
from services.ingest.domain.sessions import SessionTable, in_range, outside_range_reason
from services.ingest.domain.timestamps import parse_timestamps
from shared.contracts.models.enums import BarAdjustment
from shared.contracts.text_bounds import (
    MAX_ROW_ERRORS as ERROR_CAP,  # errors reported in full; the total is always counted
)

Progress = Callable[[int, int | None], Awaitable[None]]


@dataclass(frozen=True)
class LineError:
    line: int
    field: str
    message: str


@dataclass
class ImportPlan:
    path: Path
    instrument_id: str
    timeframe: str
    sessions: SessionTable
    skip_invalid: bool = False
    naive_timestamps_in_exchange_tz: bool = False
    price_adjustment: BarAdjustment = BarAdjustment.RAW
    split_dates: frozenset[date] = frozenset()  # ex-dates of the instrument's splits on record


@dataclass
class ImportOutcome:
    rows_total: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    first: datetime | None = None
    last: datetime | None = None
    errors: list[LineError] = field(default_factory=list)
    errors_total: int = 0
    notes: list[str] = field(default_factory=list)  # about the file as a whole, e.g. an Adj Close ignored
    quality: QualityReport = field(default_factory=QualityReport)

    @property
    def failed(self) -> bool:
        return (self.rows_rejected > 0 and self.rows_loaded == 0) or (self.rows_total == 0)

    def reject_many(self, positions: npt.NDArray[np.intp], describe: Callable[[int], LineError]) -> None:
        """Count every rejected row, but format messages only up to the cap (a file can be all bad)."""
        room = max(0, ERROR_CAP - len(self.errors))
        self.errors.extend(describe(int(i)) for i in positions[:room])
        self.errors_total += len(positions)

    def reject(self, error: LineError) -> None:
        self.errors_total += 1
        if len(self.errors) < ERROR_CAP:
            self.errors.append(error)


class StrictImportFailed(Exception):
    """Raised inside the job's savepoint so nothing of a strict job with bad rows is written."""

    def __init__(self, outcome: ImportOutcome) -> None:
        super().__init__(f"{outcome.rows_rejected} invalid row(s)")
        self.outcome = outcome


async def import_csv(conn: asyncpg.Connection, plan: ImportPlan, on_progress: Progress | None = None) -> ImportOutcome:
    """Load `plan.path` into market_data. Raises CsvFileError for an unreadable file and
    StrictImportFailed for a strict job with bad rows (in both cases the caller's transaction or
    savepoint must be rolled back)."""
    source = CsvSource(plan.path)
    has_adj_close = ADJ_CLOSE in source.open().fields
    if plan.price_adjustment is BarAdjustment.ADJUSTED and not has_adj_close:
        raise CsvFileError(missing_adj_close())
    outcome = ImportOutcome(rows_total=source.count_rows(), notes=note_for(plan.price_adjustment, has_adj_close))
    daily = plan.timeframe == "BAR_DAILY"
    naive_zone = plan.sessions.tz if plan.naive_timestamps_in_exchange_tz else None
    bad_lines: set[int] = set()
    rows_done = 0
    # Files are nearly always sorted; then no duplicate is possible and the SQL check is skipped.
    ascending, last_ns = True, int(np.iinfo(np.int64).min)
    scan = QualityScan(
        plan.sessions, daily, plan.split_dates
    )  # the quality report, fed while the rows are in time order
    await repository.create_staging(conn)
    for batch in source.batches():
        stamps = parse_timestamps(batch.columns["timestamp"], daily=daily, naive_zone=naive_zone)
        checked = check_chunk(batch.columns, stamps.ns, stamps.valid)
        if plan.price_adjustment is BarAdjustment.ADJUSTED:
            checked.problems.extend(scale_by_adj_close(checked, batch.columns[ADJ_CLOSE]))
        for pos, message in stamps.errors.items():
            outcome.reject(LineError(int(batch.lines[pos]), "timestamp", message))
        for problem in checked.problems:
            outcome.reject(LineError(int(batch.lines[problem.position]), problem.field, problem.message))
        dated = in_range(stamps.ns)
        in_session = dated & (plan.sessions.daily_ok(stamps.ns) if daily else plan.sessions.intraday_ok(stamps.ns))
        column, lines, ns = batch.columns["timestamp"], batch.lines, stamps.ns
        outcome.reject_many(
            np.flatnonzero(stamps.valid & ~dated),
            lambda i: LineError(int(lines[i]), "timestamp", outside_range_reason(column[i].as_py())),  # noqa: B023 (called at once)
        )
        outcome.reject_many(
            np.flatnonzero(stamps.valid & dated & ~in_session),
            lambda i: LineError(int(lines[i]), "timestamp", plan.sessions.outside_reason(int(ns[i]), daily)),  # noqa: B023
        )
        valid = checked.valid & in_session
        bad_lines.update(batch.lines[~valid].tolist())
        # Valid rows are staged even in a strict job that will fail: duplicates are found in staging.
        keep = np.flatnonzero(valid)
        kept_ns = stamps.ns[keep]
        if len(kept_ns):
            ascending = ascending and bool(kept_ns[0] > last_ns) and bool(np.all(np.diff(kept_ns) > 0))
            if ascending:
                prices = (checked.open[keep], checked.high[keep], checked.low[keep], checked.close[keep])
                scan.add(LoadedBars(kept_ns, *prices, checked.volume[keep]))
            last_ns = int(kept_ns[-1])
        await repository.copy_rows(
            conn,
            encode_rows(
                batch.lines[keep],
                stamps.ns[keep],
                checked.open[keep],
                checked.high[keep],
                checked.low[keep],
                checked.close[keep],
                checked.volume[keep],
            ),
        )
        rows_done += len(batch.lines)
        if on_progress is not None:
            await on_progress(rows_done, outcome.rows_total)
    for rejected in source.rejected:
        bad_lines.add(rejected.line)
        outcome.reject(LineError(rejected.line, "row", rejected.message))
    dup_total, duplicates = (0, []) if ascending else await repository.find_duplicates(conn, ERROR_CAP)
    for dup in duplicates:
        bad_lines.add(dup.line)
        message = f"duplicate timestamp {dup.timestamp.isoformat()}: line {dup.first_line} has it too"
        outcome.reject(LineError(dup.line, "timestamp", message))
    outcome.errors_total += max(0, dup_total - len(duplicates))
    outcome.rows_rejected = len(bad_lines) + max(0, dup_total - len(duplicates))
    outcome.errors.sort(key=lambda e: (e.line, e.field))
    if outcome.rows_rejected and not plan.skip_invalid:
        raise StrictImportFailed(outcome)
    if dup_total:
        await repository.drop_duplicates(conn)
    lo, hi, staged = await repository.staged_range(conn)
    outcome.rows_loaded = staged
    if staged and lo is not None and hi is not None:
        series = (conn, plan.instrument_id, plan.timeframe)
        await series_adjustment.check_compatible(*series, plan.price_adjustment, lo, hi)
        counts = await repository.merge(*series, lo, hi)
        await series_adjustment.record(*series, plan.price_adjustment)
        outcome.inserted, outcome.updated, outcome.unchanged = counts.inserted, counts.updated, counts.unchanged
        outcome.first, outcome.last = lo, hi
        if not ascending:  # rare: the bars as stored, in time order, from staging
            scan = QualityScan(plan.sessions, daily, plan.split_dates)
            async for bars in repository.staged_in_order(conn):
                scan.add(bars)
        outcome.quality = scan.report()
    return outcome
