"""How much user-derived text an event, an error message or a log line may carry: the limits, and the
helpers that cut a text or a list of names to a short summary ending with "... and N more".

One hostile input (a CSV header of a million columns, a request with 75,000 unknown parameters) must not
become a message the broker refuses: every such text is summarised where it is made and bounded again by
the event models. Pure (no I/O), so domain code may use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

MAX_SUMMARY_CHARS: Final = 1000  # an error message or a warning in an event (FAILED reasons, import errors)
MAX_ROW_MESSAGE_CHARS: Final = 200  # the message of one rejected row
MAX_FIELD_CHARS: Final = 100  # a field name (CSV column, parameter path)
MAX_NAME_CHARS: Final = 40  # one name quoted inside a summary
MAX_LISTED_NAMES: Final = 10  # names a summary lists before "... and N more"
MAX_LISTED_ERRORS: Final = 3  # errors of one kind listed one by one (e.g. unknown parameters) before the count
MAX_ROW_ERRORS: Final = 1000  # rejected rows reported in full (stored and sent); the total is always counted
MAX_WARNINGS: Final = 20  # warnings of one result
MAX_IMPORT_WARNINGS_PER_KIND: Final = 10  # data-quality warnings of one import listed per kind; all are counted
MAX_EVENT_BYTES: Final = 512 * 1024  # an enqueued envelope, serialised: half the producer's 1 MiB request cap
MAX_LOG_VALUE_CHARS: Final = 2000  # one value of a log line
MAX_LOG_TRACEBACK_CHARS: Final = 8000  # a traceback keeps its start and its end (what failed, and where)


def clip(text: str, limit: int = MAX_SUMMARY_CHARS) -> str:
    """`text` if it fits in `limit` characters, else its start and "... and N more characters"."""
    if len(text) <= limit:
        return text
    # The suffix's own length depends on N; reserve room for the widest N this text can have.
    room = max(limit - len(f" ... and {len(text):,} more characters"), 0)
    return f"{text[:room]} ... and {len(text) - room:,} more characters"


def clip_middle(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its start and its end around "... N characters cut ...":
    for tracebacks, whose last lines say what failed."""
    if len(text) <= limit:
        return text
    room = max(limit - len(f" ... {len(text):,} characters cut ... "), 0)
    head = room // 3
    tail = room - head
    return f"{text[:head]} ... {len(text) - head - tail:,} characters cut ... {text[len(text) - tail :]}"


def summarize_names(label: str, names: Sequence[str], listed: int = MAX_LISTED_NAMES) -> str:
    """'label: a, b, c ... and 999,997 more' (each name clipped too); 'label: (none)' for no names."""
    if not names:
        return f"{label}: (none)"
    shown = ", ".join(clip(name, MAX_NAME_CHARS) for name in names[:listed])
    rest = len(names) - listed
    return f"{label}: {shown}" + (f" ... and {rest:,} more" if rest > 0 else "")
