"""The engine's cache of job inputs: least recently used first out, bounded in entries and in bars."""

from __future__ import annotations

from datetime import date

from services.engine.input_cache import InputCache, Key


def _key(n: int) -> Key:
    return (
        None,
        (f"I{n}.NASDAQ",),
        "BAR_DAILY",
        date(2020, 1, 1),
        date(2021, 12, 31),
        "SPY",
        "SPLITS",
        None,
        None,
    )


def test_the_least_recently_used_entry_goes_first_when_entries_or_bars_are_over_the_bounds() -> None:
    cache = InputCache(max_entries=2, max_bars=1_000)
    cache.put(_key(1), "one", 400)
    cache.put(_key(2), "two", 400)
    assert cache.get(_key(1)) == "one"  # now the most recently used
    cache.put(_key(3), "three", 100)  # three entries: two goes
    assert (cache.get(_key(1)), cache.get(_key(2)), cache.get(_key(3))) == ("one", None, "three")
    cache.put(_key(4), "four", 950)  # one goes (three entries), then three (1,050 bars)
    assert [cache.get(_key(n)) for n in (1, 3, 4)] == [None, None, "four"]
    cache.put(_key(5), "five", 1_001)  # more than the whole budget: not kept, nothing else goes for it
    assert (cache.get(_key(5)), cache.get(_key(4))) == (None, "four")
    assert (cache.hits, cache.misses) == (5, 4)
