"""Stream a CSV file of bars in blocks (pyarrow), with the file line of every row.

Memory stays flat whatever the file size: one block of rows at a time. Rows whose field count
does not match the header are not dropped silently: each becomes a rejected row with its line.
So does a line longer than MAX_LINE_BYTES (no bar is that long; a 100 MB line would otherwise break
the block reader and fail the whole file): the parser is handed a short stand-in for it, which keeps
every other line's number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

from services.ingest.domain.csv_layout import BAR_FIELDS, CsvLayout, detect_layout
from shared.contracts.text_bounds import clip, summarize_names

BLOCK_SIZE = 2 << 20  # bytes per parsed block: ~35k one-minute bars; bigger blocks only cost memory
MAX_LINE_BYTES: Final = 64 * 1024  # the longest line (header or row) read; a bar takes under 200 bytes
SCAN_CHUNK: Final = 1 << 20
STAND_IN: Final = b"\x00"  # what the parser sees instead of an overlong line: one field, so an invalid row


class CsvFileError(ValueError):
    """The file as a whole cannot be read (missing, empty, not text, wrong header)."""


@dataclass
class RejectedLine:
    line: int
    message: str


@dataclass(frozen=True)
class LongLine:
    line: int  # 1-based file line
    start: int  # byte offset of its first byte
    end: int  # byte offset just past it (its newline excluded)


def too_long(length: int) -> str:
    """What a rejected overlong line's error says."""
    return f"the line is {length:,} bytes long; a line may be at most {MAX_LINE_BYTES:,} bytes"


def long_lines(path: Path, limit: int = MAX_LINE_BYTES) -> tuple[int, list[LongLine]]:
    """Count the lines of a file and find those longer than `limit` bytes (a vectorised byte scan)."""
    found: list[LongLine] = []
    lines, offset, line_start = 0, 0, 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(SCAN_CHUNK):
            ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == ord("\n")) + offset
            starts = np.concatenate([[line_start], ends[:-1] + 1]) if len(ends) else np.empty(0, dtype=np.int64)
            for i in np.flatnonzero(ends - starts > limit):
                found.append(LongLine(lines + int(i) + 1, int(starts[i]), int(ends[i])))
            if len(ends):
                line_start = int(ends[-1]) + 1
            lines += len(ends)
            offset += len(chunk)
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
        if offset - line_start > limit:
            found.append(LongLine(lines, line_start, offset))
    return lines, found


class _WithStandIns(io.RawIOBase):
    """The file's bytes with each overlong line replaced by STAND_IN (its newline kept)."""

    def __init__(self, path: Path, replaced: list[LongLine]) -> None:
        self._file = path.open("rb")
        self._pieces: list[tuple[int, int] | bytes] = []  # (start, end) byte ranges of the file, or literal bytes
        position = 0
        for line in replaced:
            self._pieces += [(position, line.start), STAND_IN]
            position = line.end
        self._pieces.append((position, -1))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._pieces and len(buffer):
            piece = self._pieces[0]
            if isinstance(piece, bytes):  # never empty: it is dropped once copied
                count = min(len(buffer), len(piece))
                buffer[:count] = piece[:count]
                self._pieces[0:1] = [piece[count:]] if count < len(piece) else []
                return count
            start, end = piece
            wanted = len(buffer) if end < 0 else min(len(buffer), end - start)
            self._file.seek(start)
            count = (self._file.readinto(buffer[:wanted]) or 0) if wanted > 0 else 0
            done = count == 0 or (end >= 0 and start + count >= end)
            self._pieces[0:1] = [] if done else [(start + count, end)]
            if count:
                return count
        return 0

    def close(self) -> None:
        self._file.close()
        super().close()


def _with_stand_ins(path: Path, overlong: dict[int, LongLine]) -> io.BufferedReader:
    """Buffered: Arrow takes a short read for the end of the file, and a stand-in makes reads short."""
    return io.BufferedReader(_WithStandIns(path, sorted(overlong.values(), key=lambda line: line.start)))


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
    overlong: dict[int, LongLine] = field(default_factory=dict)  # file line -> where it is
    _lines_scanned: int | None = None
    _rows_seen: int = 0

    def open(self) -> CsvLayout:
        """Check the file and read its header; raises CsvFileError with what is wrong."""
        if not self.path.exists():
            raise CsvFileError(f"file not found: {self.path.name}")
        if not self.path.is_file():
            raise CsvFileError(f"not a file: {self.path.name}")
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as handle:
                first = handle.readline(MAX_LINE_BYTES + 1)
            if len(first.rstrip("\r\n")) > MAX_LINE_BYTES:
                expected = f"expected a header such as {','.join(BAR_FIELDS)}"
                raise CsvFileError(f"line 1 (the header) is over {MAX_LINE_BYTES:,} characters long; {expected}")
            header = next(csv.reader([first]), None) if first.strip() else None
        except csv.Error as exc:
            raise CsvFileError(f"line 1 (the header) is not valid CSV: {exc}") from exc
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
        """Data lines in the file (a fast byte scan, for progress totals); finds the overlong lines too."""
        if self._lines_scanned is None:
            self._lines_scanned, found = long_lines(self.path)
            self.overlong = {line.line: line for line in found}
        return max(self._lines_scanned - 1, 0)

    def _on_invalid_row(self, row: pacsv.InvalidRow) -> str:
        expected = self.layout.header if self.layout else ()
        number = int(row.number) if row.number is not None else 0
        if number in self.overlong:
            line = self.overlong[number]
            self.rejected.append(RejectedLine(number, too_long(line.end - line.start)))
            return "skip"
        self.rejected.append(
            RejectedLine(
                number,
                f"expected {row.expected_columns} fields ({summarize_names('header', expected)}), "
                f"found {row.actual_columns}: {row.text[:120]!r}",
            )
        )
        return "skip"

    def batches(self) -> Iterator[CsvBatch]:
        layout = self.layout or self.open()
        names = [f"c{i}" for i in range(len(layout.header))]
        self.count_rows()
        # A Python file: Arrow then reads block by block (a path is read ahead).
        handle = self.path.open("rb") if not self.overlong else _with_stand_ins(self.path, self.overlong)
        try:
            reader = self._reader(handle, names, layout)
        except pa.ArrowInvalid as exc:
            handle.close()
            raise CsvFileError(clip(f"{self.path.name}: {exc}")) from exc
        try:
            for record_batch in reader:
                if record_batch.num_rows == 0:
                    continue
                columns = {f: record_batch.column(names[layout.index(f)]) for f in layout.fields}
                yield CsvBatch(columns=columns, lines=self._lines(record_batch.num_rows))
        except pa.ArrowInvalid as exc:
            raise CsvFileError(clip(f"{self.path.name}: {exc}")) from exc
        finally:
            handle.close()

    def _reader(self, handle: BinaryIO, names: list[str], layout: CsvLayout) -> pacsv.CSVStreamingReader:
        return pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(
                block_size=self.block_size, use_threads=False, skip_rows=1, column_names=names
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=self._on_invalid_row, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                include_columns=[names[layout.index(f)] for f in layout.fields],
            ),
        )

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
