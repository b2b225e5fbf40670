"""Lists that scale: the filters of one page of a list, and what an id prefix matches.

Pure: the SQL side (services/api/repository/listing.py) turns a `Filter` list into a WHERE clause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.domain.id_prefix import check_prefix

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Filter:
    """One condition of a list: `sql` with one `?` for `value`; skipped when value is None."""

    sql: str
    value: Any


def prefix_like(prefix: str | None) -> str | None:
    """The LIKE pattern of an id prefix (lower case, as uuid::text writes it), or None for no prefix."""
    return None if prefix is None else check_prefix("the", prefix) + "%"
