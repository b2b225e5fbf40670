"""Correlation ids over HTTP: a request's `X-Correlation-ID` (or a new one) is bound to every log line of
the request, returned in the response, and carried by the events the request publishes, so the ingest,
engine and reporting lines of that request carry it too (their consumers bind it from the envelope)."""

from __future__ import annotations

import re
import time
import uuid
from contextvars import ContextVar
from typing import Final

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER: Final = "X-Correlation-ID"
# What we accept from a client: a UUID, a W3C trace id, any short token; anything else gets a new id.
VALID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
QUIET_PATHS: Final = frozenset({"/health", "/ready", "/metrics"})  # probes and scrapes: debug level

log = structlog.get_logger()
_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def current() -> str:
    """The correlation id of the request being handled (a new one outside a request)."""
    return _current.get() or str(uuid.uuid4())


def accepted(presented: str | None) -> str:
    return presented if presented is not None and VALID.match(presented) else str(uuid.uuid4())


class CorrelationMiddleware:
    """Pure ASGI (works for streamed responses too); logs one line per request with its status and time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        correlation_id = accepted(headers.get(HEADER.lower()))
        status = [500]
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER.lower().encode(), correlation_id.encode())]
            await send(message)

        token = _current.set(correlation_id)
        try:
            with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    quiet = scope.get("path") in QUIET_PATHS
                    (log.debug if quiet else log.info)(
                        "http request",
                        method=scope.get("method"),
                        path=scope.get("path"),
                        status=status[0],
                        ms=round((time.perf_counter() - started) * 1000, 1),
                    )
        finally:
            _current.reset(token)
