"""Lists that scale: one page of a filtered list, and unique id prefixes.

Pure: the SQL side (services/api/repository/listing.py) turns a `Filter` list into a WHERE clause; this
module only decides what the filters mean and what a prefix matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MIN_PREFIX = 8  # characters of an id a CLI argument or ?id_prefix= must give (8 hex digits: 4 billion ids)
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
PREFIX_PATTERN = r"^[0-9a-fA-F-]{8,36}$"
_PREFIX = re.compile(PREFIX_PATTERN)


@dataclass(frozen=True)
class Filter:
    """One condition of a list: `sql` with one `?` for `value`; skipped when value is None."""

    sql: str
    value: Any


def prefix_like(prefix: str | None) -> str | None:
    """The LIKE pattern of an id prefix (lower case, as uuid::text writes it), or None for no prefix."""
    if prefix is None:
        return None
    if not _PREFIX.match(prefix):
        raise ValueError(f"an id prefix is {MIN_PREFIX} to 36 hexadecimal digits or dashes, got {prefix!r}")
    return prefix.lower() + "%"


class AmbiguousPrefix(Exception):
    """More than one id starts with the prefix."""

    def __init__(self, kind: str, prefix: str, candidates: list[str]) -> None:
        self.candidates = candidates
        shown = ", ".join(candidates[:10]) + (", …" if len(candidates) > 10 else "")
        super().__init__(f"{kind} id prefix {prefix!r} is ambiguous: it matches {shown}; give more characters")


class UnknownPrefix(Exception):
    def __init__(self, kind: str, prefix: str) -> None:
        super().__init__(f"no {kind} of yours has an id starting with {prefix!r}")


def unique_match(kind: str, prefix: str, ids: list[str]) -> str:
    """The one id of `ids` that starts with `prefix` (case-insensitive); a full id matches itself."""
    wanted = prefix.lower()
    if len(wanted) < MIN_PREFIX:
        raise ValueError(f"{kind} id {prefix!r}: give at least {MIN_PREFIX} characters of the id")
    matches = sorted({i for i in ids if i.lower().startswith(wanted)})
    if not matches:
        raise UnknownPrefix(kind, prefix)
    if len(matches) > 1:
        raise AmbiguousPrefix(kind, prefix, matches)
    return matches[0]
