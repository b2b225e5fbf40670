"""The data model's "at least 1 signal in the test period" rule, as the engine words its FAILED result.

One definition, so that the walk-forward (gateway and reporting) can tell an out-of-sample window that
simply had no signal (a flat window: the money stays in cash, 0%) from one that failed for a reason.
"""

from __future__ import annotations

from datetime import date

NO_SIGNAL_PREFIX = "the strategy generated no signal"


def no_signal_message(start: date, end: date) -> str:
    return f"{NO_SIGNAL_PREFIX} between {start} and {end}"


def is_no_signal(error_message: str | None) -> bool:
    """True for the engine's "no signal" failure (and only for it)."""
    return bool(error_message) and str(error_message).startswith(NO_SIGNAL_PREFIX)
