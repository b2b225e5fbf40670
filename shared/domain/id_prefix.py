"""Short ids: a unique prefix of at least MIN_PREFIX characters stands for a full id (the CLI's arguments,
the gateway's ?id_prefix=)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Final

MIN_PREFIX: Final = 8  # 8 hex digits: one id in 4 billion shares a given prefix
PREFIX_PATTERN: Final = r"^[0-9a-fA-F-]{8,36}$"
SHOWN: Final = 10  # candidates named in an ambiguity error
_PREFIX = re.compile(PREFIX_PATTERN)


class PrefixError(ValueError):
    """The prefix cannot name one id: too short or not hexadecimal (ValueError), none, or several."""


class TooShort(PrefixError):
    def __init__(self, kind: str, text: str) -> None:
        super().__init__(f"{kind} id {text!r}: give the full id or at least {MIN_PREFIX} of its characters (0-9, a-f)")


class NoMatch(PrefixError):
    def __init__(self, kind: str, text: str) -> None:
        super().__init__(f"no {kind} of yours has an id starting with {text!r}")


class Ambiguous(PrefixError):
    def __init__(self, kind: str, text: str, candidates: list[str], total: int | None = None) -> None:
        """`total`: how many match in all, when `candidates` are only the first of them."""
        self.candidates = candidates
        more = max(total or 0, len(candidates)) - min(len(candidates), SHOWN)
        shown = ", ".join(candidates[:SHOWN]) + (f" and {more} more" if more > 0 else "")
        super().__init__(f"{kind} id prefix {text!r} is ambiguous: it matches {shown}; give more characters")


def full_id(text: str) -> str | None:
    """`text` as a canonical uuid if it is a whole one, else None."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def check_prefix(kind: str, text: str) -> str:
    """`text` lower-cased if it can be a prefix (MIN_PREFIX..36 hex digits or dashes), else TooShort."""
    if not _PREFIX.match(text):
        raise TooShort(kind, text)
    return text.lower()


def unique_match(kind: str, text: str, ids: Iterable[str]) -> str:
    """The one id of `ids` that starts with `text`; NoMatch or Ambiguous (naming the candidates) otherwise."""
    prefix = check_prefix(kind, text)
    matches = sorted({i for i in ids if i.lower().startswith(prefix)})
    if not matches:
        raise NoMatch(kind, text)
    if len(matches) > 1:
        raise Ambiguous(kind, text, matches)
    return matches[0]
