"""A replica's recently read job inputs (instruments, bars re-stamped at their close, benchmark closes), so that
runs on the same instruments and period do not read them again.

- A sweep's children run on the same instruments and period (a walk-forward's on a few periods): the key
  includes the sweep id, and a sweep sees one snapshot of the data.
- Runs of anyone else (no sweep id) reuse an entry only while the data it was read from is unchanged (its
  `DataVersion`, checked at each run; see inputs.cached_inputs).

Entries are read-only by convention: a run copies what it changes. The cache holds at most `max_entries`
entries and `max_bars` bars between them, the least recently used going first. A bar costs ~550 bytes kept (measured:
its columns, and the NautilusTrader bars made of them once, see domain/shared_frames): 2,000,000 bars, ~1.1 GB.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, datetime
from typing import Any
from uuid import UUID

# the sweep (None: not a sweep's child), the instruments, the timeframe and the period; then the benchmark's
# name, the bars' price adjustment, the data's as-of and the warm-up's start (walk-forward windows)
Key = tuple[UUID | None, tuple[str, ...], str, date, date, str, str, datetime | None, date | None]


class InputCache:
    def __init__(self, max_entries: int = 16, max_bars: int = 2_000_000) -> None:
        self.max_entries = max_entries
        self.max_bars = max_bars
        self._entries: OrderedDict[Key, tuple[Any, int]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Key) -> Any | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: Key, value: Any, bars: int = 0) -> None:
        """Keep `value`, which holds `bars` bars (more than `max_bars`: not kept)."""
        self._entries.pop(key, None)
        if bars > self.max_bars:
            return
        self._entries[key] = (value, bars)
        while len(self._entries) > self.max_entries or sum(b for _, b in self._entries.values()) > self.max_bars:
            self._entries.popitem(last=False)
