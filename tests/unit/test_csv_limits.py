"""Hostile CSV content is a rejected row with its line, field and what was expected: an overlong line, and
every value the database would refuse (volume beyond bigint, prices beyond what a price can hold)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from services.ingest.csv_source import MAX_LINE_BYTES, CsvFileError, CsvSource, long_lines
from services.ingest.domain.bar_checks import MAX_PRICE, MAX_VOLUME, check_chunk

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = "2024-01-0{day},10,11,9,10.5,100\n"


def _check(rows: list[tuple[str, str, str, str, str]]) -> tuple[list[tuple[int, str, str]], list[bool]]:
    names = ("open", "high", "low", "close", "volume")
    columns = {name: pa.array([row[i] for row in rows]) for i, name in enumerate(names)}
    ns = np.arange(len(rows), dtype=np.int64)
    checked = check_chunk(columns, ns, np.ones(len(rows), dtype=np.bool_))
    return [(p.position, p.field, p.message) for p in checked.problems], checked.valid.tolist()


def test_a_volume_beyond_bigint_is_a_rejected_row_naming_the_field() -> None:
    problems, valid = _check([("10", "11", "9", "10", "1e23"), ("10", "11", "9", "10", "100")])
    assert valid == [False, True]
    assert [(pos, field) for pos, field, _ in problems] == [(0, "volume")]
    assert f"volume must be <= {MAX_VOLUME:g}" in problems[0][2]


@pytest.mark.parametrize(("value", "field"), [("1e300", "high"), ("1e-300", "low")])
def test_prices_outside_what_a_price_holds_are_rejected(value: str, field: str) -> None:
    row = {"open": "10", "high": "11", "low": "9", "close": "10", "volume": "1"} | {field: value}
    problems, valid = _check([(row["open"], row["high"], row["low"], row["close"], row["volume"])])
    assert valid == [False]
    assert any(f == field and "must be between" in m for _, f, m in problems)
    assert f"{MAX_PRICE:g}" in next(m for _, f, m in problems if f == field and "between" in m)


def test_overlong_lines_are_found_by_number_and_length(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(HEADER + GOOD.format(day=2) + "x" * (MAX_LINE_BYTES + 1) + "\n" + "y" * MAX_LINE_BYTES)
    lines, found = long_lines(path)
    assert lines == 4
    assert [(line.line, line.end - line.start) for line in found] == [(3, MAX_LINE_BYTES + 1)]


@pytest.mark.parametrize("block_size", [256, 1 << 20])
def test_an_overlong_line_is_a_rejected_row_and_every_other_line_keeps_its_number(
    tmp_path: Path, block_size: int
) -> None:
    path = tmp_path / "hostile.csv"
    huge = "2024-01-03," + "9," * (3 * MAX_LINE_BYTES) + "1\n"  # longer than a parse block, and many fields
    path.write_text(HEADER + GOOD.format(day=2) + huge + GOOD.format(day=4) + "bad,row\n" + GOOD.format(day=5))
    source = CsvSource(path, block_size=block_size)
    source.open()
    assert source.count_rows() == 5
    batches = list(source.batches())
    assert [line for batch in batches for line in batch.lines.tolist()] == [2, 4, 6]
    assert [t for batch in batches for t in batch.columns["timestamp"].to_pylist()] == [
        "2024-01-02",
        "2024-01-04",
        "2024-01-05",
    ]
    rejected = {r.line: r.message for r in source.rejected}
    assert sorted(rejected) == [3, 5]
    assert f"at most {MAX_LINE_BYTES:,} bytes" in rejected[3]


def test_an_overlong_header_is_a_file_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("timestamp," + "x" * (2 * MAX_LINE_BYTES) + "\n" + GOOD.format(day=2))
    with pytest.raises(CsvFileError, match="line 1"):
        CsvSource(path).open()
