"""Structured JSON logs (structlog), one object per line, with the service name on every line.

Lines of other libraries (uvicorn, aiokafka, asyncpg) go through the same renderer, so they are JSON too
and carry the context bound at the time: the event id and correlation id of the message or request
being handled (see `shared.platform.kafka.consumer` and the gateway's correlation middleware).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Final

import structlog
from structlog.typing import EventDict, WrappedLogger

from shared.contracts.text_bounds import MAX_LOG_TRACEBACK_CHARS, MAX_LOG_VALUE_CHARS, clip, clip_middle

TRACEBACK_KEYS: Final = frozenset({"exception", "stack"})  # kept head and tail: the end says what failed


def truncate_long_values(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Cut every value longer than MAX_LOG_VALUE_CHARS (as text): one hostile input (a million-column header
    in an error) must not become a multi-megabyte log line."""
    for key, value in event_dict.items():
        text = value if isinstance(value, str) else None
        if text is None and not isinstance(value, int | float | bool | type(None)):
            text = str(value)
        if text is None:
            continue
        if key in TRACEBACK_KEYS:
            event_dict[key] = clip_middle(text, MAX_LOG_TRACEBACK_CHARS)
        elif len(text) > MAX_LOG_VALUE_CHARS:
            event_dict[key] = clip(text, MAX_LOG_VALUE_CHARS)
    return event_dict


# Context and level and time, for our lines and for those of the standard library's loggers alike.
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
# Last before rendering: exceptions are text by then, so a huge traceback is cut too.
_BOUNDED: list[Any] = [structlog.processors.format_exc_info, truncate_long_values]


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_SHARED, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *_BOUNDED,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    logging.basicConfig(handlers=[handler], level=level.upper(), force=True)
    logging.captureWarnings(True)  # Python warnings become log lines too, not bare text on stderr
    structlog.configure(
        processors=[*_SHARED, *_BOUNDED, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
