"""The CLI names its own flags in a gateway's problem+json errors, not the API's field names."""

from __future__ import annotations

import httpx

from bts.gateway import problem_message
from bts.options import BACKTEST_FLAGS, INGEST_IBKR_FLAGS, SWEEP_FLAGS, flag_for


def _problem(*errors: tuple[str, str]) -> httpx.Response:
    detail = "; ".join(f"{field}: {message}" for field, message in errors)
    body = {
        "title": "Unprocessable Content",
        "status": 422,
        "detail": detail,
        "errors": [{"field": field, "message": message} for field, message in errors],
    }
    return httpx.Response(422, json=body, headers={"content-type": "application/problem+json"})


def test_one_error_is_one_line_naming_the_flag() -> None:
    response = _problem(("body.start_date", "dates must be within 2019-01-01..2024-12-31, got 2025-01-02"))
    assert (
        problem_message(response, BACKTEST_FLAGS)
        == "--start: dates must be within 2019-01-01..2024-12-31, got 2025-01-02"
    )
    assert problem_message(response).startswith("body.start_date: ")  # without a command's map: the field


def test_several_errors_each_name_their_flag_and_items_keep_their_index() -> None:
    response = _problem(("body.instrument_ids.1", "unknown instrument X.NYSE"), ("query.timeframe", "bad"))
    assert problem_message(response, BACKTEST_FLAGS).splitlines() == [
        "Unprocessable Content",
        "--instruments (item 1): unknown instrument X.NYSE",
        "--timeframe: bad",
    ]


def test_each_command_maps_its_own_fields() -> None:
    assert flag_for("body.timeframe", SWEEP_FLAGS) == "--timeframe"
    assert flag_for("body.grid.fast_period.0", SWEEP_FLAGS) == "--grid (fast_period.0)"
    assert flag_for("body.start", INGEST_IBKR_FLAGS) == "--start"
    assert flag_for("body.unknown", INGEST_IBKR_FLAGS) == "body.unknown"
