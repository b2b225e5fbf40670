"""Stream a CSV file of bars in blocks (pyarrow), with the file line of every row.

Memory stays flat whatever the file size: one block of rows at a time. Rows whose field count
does not match the header are not dropped silently: each becomes a rejected row with its line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

from services.ingest.domain.csv_layout import BAR_FIELDS, CsvLayout, detect_layout
from shared.text_bounds import clip, summarize_names

BLOCK_SIZE = 2 << 20  # bytes per parsed block: ~35k one-minute bars; bigger blocks only cost memory


class CsvFileError(ValueError):
    """The file as a whole cannot be read (missing, empty, not text, wrong header)."""


@dataclass
class RejectedLine:
    line: int
    message: str


@dataclass
class CsvBatch:
    columns: dict[str, pa.Array]  # raw strings of the bar fields
    lines: npt.NDArray[np.int64]  # 1-based file line of each row (header is line 1)


@dataclass
class CsvSource:
    path: Path
    block_size: int = BLOCK_SIZE
    layout: CsvLayout | None = None
    rejected: list[RejectedLine] = field(default_factory=list)
    _rows_seen: int = 0

    def open(self) -> CsvLayout:
        """Check the file and read its header; raises CsvFileError with what is wrong."""
        if not self.path.exists():
            raise CsvFileError(f"file not found: {self.path.name}")
        if not self.path.is_file():
            raise CsvFileError(f"not a file: {self.path.name}")
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as handle:
                header = next(csv.reader(handle), None)
        except UnicodeDecodeError as exc:
            raise CsvFileError(f"{self.path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except OSError as exc:
            raise CsvFileError(f"cannot read {self.path.name}: {exc.strerror}") from exc
        if header is None:
            raise CsvFileError(f"{self.path.name} is empty: expected a header and at least one row")
        try:
            self.layout = detect_layout(header)
        except ValueError as exc:
            raise CsvFileError(str(exc)) from exc
        return self.layout

    def count_rows(self) -> int:
        """Data lines in the file (a fast byte count, for progress totals)."""
        lines = 0
        last = b"\n"
        with self.path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        if last != b"\n":
            lines += 1
        return max(lines - 1, 0)

    def _on_invalid_row(self, row: pacsv.InvalidRow) -> str:
        expected = self.layout.header if self.layout else ()
        number = int(row.number) if row.number is not None else 0
        self.rejected.append(
            RejectedLine(number, f"expected {row.expected_columns} fields ({summarize_names('header', expected)}), "
                         f"found {row.actual_columns}: {row.text[:120]!r}")
        )  # fmt: skip
        return "skip"

    def batches(self) -> Iterator[CsvBatch]:
        layout = self.layout or self.open()
        names = [f"c{i}" for i in range(len(layout.header))]
        handle = self.path.open("rb")  # a Python file: Arrow then reads block by block (a path is read ahead)
        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(
                block_size=self.block_size, use_threads=False, skip_rows=1, column_names=names
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=self._on_invalid_row, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False, include_columns=[
                    names[layout.index(f)] for f in BAR_FIELDS
                ]
            ),
        )  # fmt: skip
        try:
            for record_batch in reader:
                if record_batch.num_rows == 0:
                    continue
                columns = {f: record_batch.column(names[layout.index(f)]) for f in BAR_FIELDS}
                yield CsvBatch(columns=columns, lines=self._lines(record_batch.num_rows))
        except pa.ArrowInvalid as exc:
            raise CsvFileError(clip(f"{self.path.name}: {exc}")) from exc
        finally:
            handle.close()

    def _lines(self, count: int) -> npt.NDArray[np.int64]:
        """File lines of the next `count` rows, stepping over the lines rejected for their field count."""
        skipped = np.array(sorted(r.line for r in self.rejected), dtype=np.int64)
        rows = np.arange(self._rows_seen, self._rows_seen + count, dtype=np.int64)
        lines = rows + 2
        while True:  # converges in as many rounds as skipped lines are adjacent, usually one
            updated = rows + 2 + np.searchsorted(skipped, lines, side="right")
            if np.array_equal(updated, lines):
                break
            lines = updated
        self._rows_seen += count
        return lines
