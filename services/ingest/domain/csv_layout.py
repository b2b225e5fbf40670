"""Which CSV layouts we accept and how their columns map onto a bar.

People have files from many places: our plain `timestamp,open,high,low,close,volume`, Yahoo-style
daily downloads (`Date,Open,High,Low,Close,Adj Close,Volume`), TWS / ib_async exports
(`date,open,high,low,close,volume,average,barCount`). Column names are matched case-insensitively;
columns we do not need (average, barCount, WAP, ...) are ignored; `Adj Close` is read when present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shared.contracts.text_bounds import summarize_names

BAR_FIELDS: Final = ("timestamp", "open", "high", "low", "close", "volume")
# read when present: an ADJUSTED import scales prices by it, a RAW one says that it was ignored
ADJ_CLOSE: Final = "adj_close"

# Accepted spellings of each field, lower-cased and with spaces/underscores removed.
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "timestamp": ("timestamp", "date", "datetime", "time", "ts", "dateutc", "datetimeutc"),
    "open": ("open", "o", "openprice"),
    "high": ("high", "h", "highprice"),
    "low": ("low", "l", "lowprice"),
    "close": ("close", "c", "closeprice", "last"),
    "volume": ("volume", "v", "vol"),
    ADJ_CLOSE: ("adjclose", "adjustedclose"),
}

KNOWN_LAYOUTS: Final = (
    "timestamp,open,high,low,close,volume",
    "Date,Open,High,Low,Close,Adj Close,Volume",
    "date,open,high,low,close,volume,average,barCount",
)


class LayoutError(ValueError):
    """The header does not describe bars: says what was found and what was expected."""


@dataclass(frozen=True)
class CsvLayout:
    """Column index of each bar field in the file."""

    columns: dict[str, int]
    header: tuple[str, ...]

    def index(self, field: str) -> int:
        return self.columns[field]

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields read from the file: the bar's, and Adj Close when the file has it."""
        return BAR_FIELDS + ((ADJ_CLOSE,) if ADJ_CLOSE in self.columns else ())


def _normalise(name: str) -> str:
    return name.strip().strip('"').lower().replace(" ", "").replace("_", "").replace("-", "")


def detect_layout(header: list[str]) -> CsvLayout:
    """Map a header row onto the bar fields, or raise LayoutError naming what is missing."""
    cleaned = [h.strip().strip('"').lstrip("\ufeff") for h in header]
    if not any(cleaned):
        raise LayoutError("the file has no header row; expected one of: " + " | ".join(KNOWN_LAYOUTS))
    columns: dict[str, int] = {}
    for position, name in enumerate(cleaned):
        key = _normalise(name)
        for field, aliases in ALIASES.items():
            if key in aliases and field not in columns:
                columns[field] = position
                break
    missing = [f for f in BAR_FIELDS if f not in columns]
    if missing:
        found = summarize_names("found", cleaned)
        expected = " | ".join(KNOWN_LAYOUTS)
        raise LayoutError(f"missing column(s) {', '.join(missing)}; {found}; expected one of: {expected}")
    return CsvLayout(columns=columns, header=tuple(cleaned))
