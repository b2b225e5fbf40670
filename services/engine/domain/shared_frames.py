"""What runs derive from a bar frame that several of them share: the inputs a replica keeps for later runs (a
sweep's children, repeated runs on unchanged data), read-only by convention (services/engine/input_cache.py).
Derived once per frame object and purpose, and forgotten with the frame."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import pandas as pd

T = TypeVar("T")

_DERIVED: dict[tuple[int, Hashable], Any] = {}


def derived(frame: pd.DataFrame | pd.Series, purpose: Hashable, make: Callable[[], T]) -> T:
    """`make()` the first time `frame` is asked for `purpose`, the same value afterwards (while it lives)."""
    key = (id(frame), purpose)
    if key in _DERIVED:
        found: T = _DERIVED[key]
        return found
    value = make()
    _DERIVED[key] = value
    weakref.finalize(frame, _DERIVED.pop, key, None)
    return value
