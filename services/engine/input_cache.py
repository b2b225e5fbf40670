"""The inputs of a sweep's children (instruments, bars re-stamped at their close, benchmark closes), read
once per sweep and replica instead of once per child.

A sweep's children run on the same instruments and period (a walk-forward's on a few periods), so
each replica reads them from PostgreSQL once. The key includes the sweep id: a sweep sees one
snapshot of the data, and an interactive run (no sweep id) always reads the database. Entries are
read-only by convention: the run copies what it changes.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, datetime
from typing import Any
from uuid import UUID

# the last three: the bars' price adjustment, the data's as-of and the warm-up's start (walk-forward windows)
Key = tuple[UUID, tuple[str, ...], str, date, date, str, str, datetime | None, date | None]


class InputCache:
    def __init__(self, max_entries: int = 16) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Key) -> Any | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return found

    def put(self, key: Key, value: Any) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
