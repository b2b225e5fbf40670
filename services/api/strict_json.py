"""JSON request bodies are parsed strictly before any route sees them: `NaN`, `Infinity`, `-Infinity` and
numbers that overflow a float (`1e999`) or are absurdly long are a 422 problem naming each field, for every
route at once. Python's JSON parser accepts all of them (as nan/inf), and a non-finite number that reached a
model, a computation or the database used to end in a 500.

The body is already size-limited by the outer BodyLimitMiddleware, so reading it whole here is bounded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.problems import PROBLEM_JSON, FieldError, unprocessable

MAX_NUMBER_DIGITS: Final = 40  # longer integer literals are not quantities anyone means (10^40 and beyond)


@dataclass(frozen=True)
class _Rejected:
    """Stands in, in the parsed document, for a number we refuse; `why` says what was expected."""

    text: str
    why: str


def _parse_float(text: str) -> float | _Rejected:
    value = float(text)
    if not math.isfinite(value):
        return _Rejected(text, f"a finite number is expected, got {text[:40]} (beyond the float range)")
    return value


def _parse_int(text: str) -> int | _Rejected:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        return _Rejected(text[:40] + "...", f"a number of at most {MAX_NUMBER_DIGITS} digits is expected")
    return int(text)


def _parse_constant(text: str) -> _Rejected:
    return _Rejected(text, f"a finite number is expected, got {text} (not valid JSON)")


def _rejected(document: Any, path: tuple[str, ...] = ("body",)) -> list[FieldError]:
    """Every refused number in the parsed document, with its dotted path."""
    if isinstance(document, _Rejected):
        return [FieldError(field=".".join(path), message=document.why, type="finite_number")]
    found: list[FieldError] = []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _rejected(value, (*path, str(key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _rejected(value, (*path, str(index)))
    return found


def non_finite_numbers(body: bytes) -> list[FieldError]:
    """The numbers of a JSON body that no model may receive (empty when none, or when the body is not JSON:
    the route's own parser reports that)."""
    try:
        document = json.loads(body, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_parse_constant)
    except ValueError:
        return []
    return _rejected(document)


def _is_json(scope: Scope) -> bool:
    headers: dict[bytes, bytes] = dict(scope.get("headers", []))
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    # what FastAPI parses as JSON (a body without a content type is not, with its strict_content_type default)
    return content_type == b"application/json" or (
        content_type.startswith(b"application/") and content_type.endswith(b"+json")
    )


class StrictJsonMiddleware:
    """Reads a JSON body whole, refuses it (422) when it holds a number we refuse, else replays it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        errors = non_finite_numbers(body) if body else []
        if errors:
            await _refuse(scope, send, errors)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _refuse(scope: Scope, send: Send, errors: list[FieldError]) -> None:
    problem = unprocessable(errors).problem
    problem.instance = scope.get("path")
    body = problem.model_dump_json(exclude_none=True).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": body})
