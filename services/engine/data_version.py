"""The version of a job's inputs: what they are read from, short of the bars themselves.

Two reads of a job's inputs with equal versions read the same inputs, so a run can reuse the inputs its replica
read for an earlier run of the same instruments and period (see inputs.cached_inputs) after a few small queries
instead of the whole read. The inputs depend on the instruments' rows, the instrument the benchmark's name
resolves to, each series' current bars in the job's span (how many, and the latest system time one was written
at: every write stamps the bars it writes with a later time, so an unchanged state holds the same bars), how
each series was imported, and the instruments' corporate actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.engine.bars import day_bounds
from services.engine.job import BacktestJob
from shared.contracts.models.corporate_action import CorporateAction
from shared.contracts.models.enums import BarAdjustment
from shared.domain.benchmark import BenchmarkChoice
from shared.platform.db.bar_versions import settled_series_as_of
from shared.platform.db.reads import (
    InstrumentRow,
    SeriesSpan,
    SeriesState,
    benchmark_choice,
    corporate_actions_of,
    fetch_instruments,
    series_states,
)
from shared.platform.db.types import Connection


@dataclass(frozen=True)
class DataVersion:
    instruments: dict[str, InstrumentRow]  # those of the job's that exist
    benchmark: BenchmarkChoice
    spans: tuple[SeriesSpan, ...]  # the job's instruments in its order, then the benchmark's (if resolved)
    series: tuple[SeriesState, ...]  # the state of each span
    actions: dict[str, list[CorporateAction]]  # per instrument of the job

    def written_by(self, as_of: datetime) -> bool:
        """Whether every current bar was written by `as_of`: then the bars as of `as_of` are the current ones."""
        return all(s.last_written is None or s.last_written <= as_of for s in self.series)

    def adjustment(self, instrument_id: str) -> BarAdjustment:
        """How the instrument's bars of the job's timeframe were imported (RAW when never recorded)."""
        stored = next(
            s.price_adjustment
            for span, s in zip(self.spans, self.series, strict=True)
            if span.instrument_id == instrument_id
        )
        return BarAdjustment(stored) if stored else BarAdjustment.RAW


async def read_data_version(conn: Connection, job: BacktestJob) -> DataVersion:
    """The version of `job`'s inputs, inside the caller's transaction: the series' shared locks are taken before
    their state is read and held until the transaction ends, so no import of them commits meanwhile (see
    shared.platform.db.bar_versions); the inputs read in the same transaction are those of this version."""
    instruments = await fetch_instruments(conn, job.instrument_ids)
    choice = await benchmark_choice(conn, job.benchmark_symbol, job.start_date, job.end_date)
    traded = day_bounds(job.warmup_start or job.start_date, job.end_date)
    spans = [SeriesSpan(iid, job.timeframe, *traded) for iid in job.instrument_ids]
    if choice.instrument_id is not None:
        spans.append(SeriesSpan(choice.instrument_id, "BAR_DAILY", *day_bounds(job.start_date, job.end_date)))
    await settled_series_as_of(conn, [(span.instrument_id, span.timeframe) for span in spans])
    states = await series_states(conn, spans)
    actions = await corporate_actions_of(conn, job.instrument_ids)
    return DataVersion(instruments, choice, tuple(spans), tuple(states), actions)
