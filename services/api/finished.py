"""Finished backtests never change (the data model: no modification after COMPLETED), so their status and
result are kept in memory after the first read, and served again without the framework's routing and
dependencies.

The route handlers fill the caches (they do the full checks: the key, the owner, the row); the fast path
answers only what they cached for that same caller, and hands everything else to the application. The TTL
bounds how long a result removed by retention stays visible; the sizes bound the memory.
"""

from __future__ import annotations

import re
from typing import Any, Final
from uuid import UUID

from cachetools import TTLCache
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.auth import known_caller

FINISHED_TTL_S: Final = 300.0
READS: Final = re.compile(r"^/api/v1/backtests/([0-9a-fA-F-]{36})(/result)?$")


class FinishedBacktests:
    def __init__(self, ttl_s: float = FINISHED_TTL_S) -> None:
        # (user, backtest) -> the status row's fields; being here proves the caller owns the backtest
        self.status: TTLCache[tuple[UUID, UUID], dict[str, Any]] = TTLCache(maxsize=20_000, ttl=ttl_s)
        self.status_body: TTLCache[tuple[UUID, UUID], bytes] = TTLCache(maxsize=20_000, ttl=ttl_s)
        self.result_body: TTLCache[UUID, bytes] = TTLCache(maxsize=2_000, ttl=ttl_s)

    def forget(self, user: UUID, backtest_id: UUID) -> None:
        """A deleted backtest: this replica stops answering for it at once (others within the TTL)."""
        self.status.pop((user, backtest_id), None)
        self.status_body.pop((user, backtest_id), None)
        self.result_body.pop(backtest_id, None)

    def body_for(self, user: UUID, backtest_id: UUID, result: bool) -> bytes | None:
        """The cached answer to GET /backtests/{id}[/result] for `user`, or None."""
        if result:
            return self.result_body.get(backtest_id) if (user, backtest_id) in self.status else None
        return self.status_body.get((user, backtest_id))


FINISHED = FinishedBacktests()


class FinishedReadsFastPath:
    """Pure ASGI, inside the correlation middleware (every answer keeps its id and its log line): a GET of a
    finished backtest's status or result that was read before, by a key known to be its owner's, is
    answered from memory; any other request goes on to the application unchanged."""

    def __init__(self, app: ASGIApp, finished: FinishedBacktests = FINISHED) -> None:
        self.app, self.finished = app, finished

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self._cached(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _cached(self, scope: Scope) -> bytes | None:
        match = READS.match(scope["path"])
        if match is None or scope.get("query_string"):
            return None
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        owner = known_caller(authorization.decode("latin-1")) if authorization is not None else None
        if owner is None:
            return None
        try:
            backtest_id = UUID(match[1])
        except ValueError:
            return None
        return self.finished.body_for(owner.user_id, backtest_id, result=match[2] is not None)
