"""Ids on the command line: a full id, or a unique prefix of at least 8 characters; and every page of a list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bts.console import CliError
from bts.gateway import Gateway
from shared.domain.id_prefix import SHOWN, Ambiguous, NoMatch, PrefixError, check_prefix, full_id

PAGE = 500  # the gateway's largest page


def resolve_id(gateway: Gateway, collection: str, kind: str, text: str) -> str:
    """The full id of your `kind` (in /`collection`) that `text` is or starts with; a one-line error when
    the prefix is too short, matches nothing, or matches several (naming them)."""
    whole = full_id(text)
    if whole is not None:
        return whole
    try:
        prefix = check_prefix(kind, text)
        page = gateway.get(f"/{collection}", params={"id_prefix": prefix, "limit": SHOWN + 1})
        ids = [str(item["id"]) for item in page["items"]]
        if not ids:
            raise NoMatch(kind, text)
        if len(ids) > 1:
            raise Ambiguous(kind, text, ids, page["total"])
    except PrefixError as exc:
        raise CliError(str(exc)) from exc
    return ids[0]


def every_item(gateway: Gateway, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Each item of a paged list, page after page."""
    offset = 0
    while True:
        page = gateway.get(path, params={**(params or {}), "limit": PAGE, "offset": offset})
        yield from page["items"]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return


def page_note(page: dict[str, Any]) -> str | None:
    """'showing 1-50 of 120 (--offset 50 for more)' when the page is not the whole list."""
    items, total, offset = page["items"], page["total"], page["offset"]
    if offset == 0 and len(items) >= total:
        return None
    last = offset + len(items)
    more = f" (--offset {last} for more)" if last < total else ""
    return f"showing {offset + 1 if items else offset}-{last} of {total}{more}"
