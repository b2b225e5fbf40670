"""The gateway's import-job read model: what each ingest event makes of a job's view."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

from services.api.domain.read_models import ImportView, next_import_view
from shared.contracts import topics
from shared.contracts.events import BarsLoaded, ImportWarning, IngestProgress, RowError
from shared.contracts.models import Timeframe
from shared.contracts.text_bounds import MAX_IMPORT_WARNINGS_PER_KIND

PENDING = ImportView("PENDING", 0, None, 0, 0, [], None)
FIRST, LAST = datetime(2020, 1, 2, tzinfo=UTC), datetime(2020, 12, 31, tzinfo=UTC)


def _loaded(inserted: int, updated: int, unchanged: int, rejected: int = 0) -> BarsLoaded:
    return BarsLoaded(
        instrument_id="A.NASDAQ",
        timeframe="BAR_DAILY",
        first=FIRST,
        last=LAST,
        rows=inserted + updated,
        rows_inserted=inserted,
        rows_updated=updated,
        rows_unchanged=unchanged,
        rows_rejected=rejected,
        errors=[RowError(line=3, field="high", message="high below close")] * rejected,
    )


def test_a_reimport_of_identical_bars_loads_every_row() -> None:
    view = next_import_view(PENDING, topics.BARS_LOADED, _loaded(0, 0, 250))
    assert (view.status, view.rows_loaded, view.rows_done, view.rows_unchanged) == ("COMPLETED", 250, 250, 250)


def test_loaded_and_rejected_rows_add_up_to_the_rows_read() -> None:
    progress = IngestProgress(job_id=uuid4(), instrument_id="A.NASDAQ", rows_done=40, rows_total=260)
    running = next_import_view(PENDING, topics.INGEST_PROGRESS, progress)
    view = next_import_view(running, topics.BARS_LOADED, _loaded(200, 7, 50, rejected=3))
    assert view.rows_loaded + view.rows_rejected == view.rows_done == 260 == view.rows_total
    assert (view.rows_inserted, view.rows_updated, view.rows_unchanged) == (200, 7, 50)
    assert len(view.errors) == 3


def test_a_finished_job_ignores_later_events() -> None:
    done = next_import_view(PENDING, topics.BARS_LOADED, _loaded(10, 0, 0))
    assert next_import_view(done, topics.BARS_LOADED, _loaded(0, 0, 10)) is done


def test_the_quality_warnings_reach_the_job_capped_with_their_counts() -> None:
    gap = ImportWarning(
        kind="GAP",
        instrument_id="A.NASDAQ",
        timeframe=Timeframe.BAR_DAILY,
        start=date(2020, 10, 12),
        end=date(2020, 10, 16),
        detail="5 session(s) of XNAS without a bar",
    )
    event = _loaded(250, 0, 0).model_copy(update={"warnings": [gap] * 3, "warning_counts": {"GAP": 3}})
    view = next_import_view(PENDING, topics.BARS_LOADED, BarsLoaded.model_validate(event.model_dump()))
    assert view.warning_counts == {"GAP": 3}
    assert view.warnings[0] == {
        "kind": "GAP",
        "instrument_id": "A.NASDAQ",
        "timeframe": "BAR_DAILY",
        "start": "2020-10-12",
        "end": "2020-10-16",
        "detail": "5 session(s) of XNAS without a bar",
    }
    flood = BarsLoaded.model_validate({**event.model_dump(), "warnings": [gap.model_dump()] * 1000})
    assert len(flood.warnings) == 3 * MAX_IMPORT_WARNINGS_PER_KIND
