"""Why a run cannot be done: the message becomes the FAILED result's error_message."""

from __future__ import annotations


class RunError(Exception):
    """The run cannot be done as asked; the message is the result's error_message."""


class StrategyUnavailable(RunError):
    """The requested strategy type is not registered here, its parameters do not fit, or its class is unusable."""


class JobRejected(Exception):
    """The request cannot run on the data it names (unknown instrument, too few trading days, no signal, ...);
    the message becomes the FAILED result's error_message."""


class RunCancelled(RunError):
    """The owner cancelled the run while it ran; the message is the result's error_message."""
