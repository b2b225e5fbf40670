"""Bounded texts: summaries with "... and N more", events that stay small whatever the input, short error
messages at the source, capped log values."""

from __future__ import annotations

import json
import uuid

import pytest
import structlog
from pydantic import TypeAdapter

from services.ingest.domain.csv_layout import LayoutError, detect_layout
from shared.contracts import topics
from shared.contracts.events import BacktestFailed, IngestFailed, RowError, Warnings, make_event
from shared.contracts.text_bounds import (
    MAX_LOG_TRACEBACK_CHARS,
    MAX_LOG_VALUE_CHARS,
    MAX_ROW_ERRORS,
    MAX_SUMMARY_CHARS,
    MAX_WARNINGS,
    clip,
    summarize_names,
)
from shared.platform.runtime.logging import truncate_long_values
from shared.strategy_types import ParameterError, get_strategy_type


def test_clip_keeps_short_texts_and_says_how_much_was_cut() -> None:
    assert clip("short", 10) == "short"
    text = "x" * 5000
    cut = clip(text, 100)
    assert len(cut) <= 100
    kept = cut.index(" ... and ")
    assert cut.endswith(f" ... and {5000 - kept:,} more characters")


def test_summarize_names_lists_a_few_and_counts_the_rest() -> None:
    names = [f"col{i}" for i in range(1_000_000)]
    summary = summarize_names("unknown columns", names, listed=3)
    assert summary == "unknown columns: col0, col1, col2 ... and 999,997 more"
    assert summarize_names("found", ["a", "b"]) == "found: a, b"
    assert summarize_names("found", []) == "found: (none)"
    assert len(summarize_names("x", ["y" * 10_000])) < 100  # a single huge name is clipped too


def test_a_million_column_header_gives_a_short_layout_error() -> None:
    header = [f"unknown_{i}" for i in range(1_000_000)]
    with pytest.raises(LayoutError) as info:
        detect_layout(header)
    message = str(info.value)
    assert len(message) < MAX_SUMMARY_CHARS
    assert "found: unknown_0, unknown_1" in message
    assert "... and 999,990 more" in message


def test_75000_unknown_parameters_give_a_short_error_naming_a_few() -> None:
    parameters = {"fast_period": 5, "slow_period": 20} | {f"p{i}": i for i in range(75_000)}
    with pytest.raises(ParameterError) as info:
        get_strategy_type("SMA_CROSSOVER").normalized(parameters)
    assert len(str(info.value)) <= MAX_SUMMARY_CHARS
    assert "parameters.p0: unknown parameter for SMA_CROSSOVER" in str(info.value)
    assert "... and 74,997 more unknown parameters" in str(info.value)
    assert len(info.value.errors) == 4  # three by name, then the count


def test_event_payloads_bound_every_user_derived_text_and_list() -> None:
    huge = "e" * 8_000_000
    failed = IngestFailed(
        job_id=uuid.uuid4(),
        instrument_id="AAPL.NASDAQ",
        error=huge,
        errors_total=2_000_000,
        errors=[RowError(line=i, field=huge, message=huge) for i in range(MAX_ROW_ERRORS + 50)],
    )
    assert len(failed.error) == MAX_SUMMARY_CHARS
    assert len(failed.errors) == MAX_ROW_ERRORS
    assert failed.errors_total == 2_000_000  # the total is kept
    event = make_event(topics.INGEST_FAILED, failed, source="bts/test")
    assert len(event.model_dump_json()) < 512 * 1024

    backtest = BacktestFailed(backtest_id=uuid.uuid4(), user_id=uuid.uuid4(), error_message=huge)
    kept = backtest.error_message.index(" ... ")
    assert backtest.error_message.endswith(f" ... and {8_000_000 - kept:,} more characters")
    warnings = TypeAdapter(Warnings).validate_python([huge] * 500)
    assert len(warnings) == MAX_WARNINGS
    assert all(len(w) == MAX_SUMMARY_CHARS for w in warnings)


def test_long_log_values_are_cut_and_short_ones_kept() -> None:
    event = {"event": "ingest failed", "error": "x" * 1_000_000, "rows": 5, "items": list(range(100_000))}
    bounded = truncate_long_values(None, "info", dict(event))
    assert MAX_LOG_VALUE_CHARS - 10 <= len(bounded["error"]) <= MAX_LOG_VALUE_CHARS
    assert bounded["rows"] == 5
    assert len(bounded["items"]) <= MAX_LOG_VALUE_CHARS
    assert bounded["event"] == "ingest failed"
    line = json.dumps(bounded)
    assert len(line) < 3 * MAX_LOG_VALUE_CHARS
    assert structlog.processors.JSONRenderer()(None, "info", bounded) == line


def test_a_long_traceback_keeps_its_start_and_its_end() -> None:
    frames = "".join(f'  File "frame{i}.py", line {i}, in f\n' for i in range(2000))
    traceback = "Traceback (most recent call last):\n" + frames + "TypeError: the real cause"
    bounded = truncate_long_values(None, "error", {"exception": traceback})["exception"]
    assert len(bounded) <= MAX_LOG_TRACEBACK_CHARS
    assert bounded.startswith("Traceback (most recent call last):")
    assert bounded.endswith("TypeError: the real cause")  # what failed survives the cut
    assert "characters cut" in bounded
