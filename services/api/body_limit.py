"""Request bodies have a size limit that holds before anything is read: a CSV upload at most
BTS_MAX_UPLOAD_BYTES (plus the multipart envelope), any other body BTS_MAX_REQUEST_BYTES. A declared
Content-Length over the limit is refused at once (413) without reading the body; a chunked body is counted
as it arrives and refused when it goes over. So an oversized upload is never spooled to a temporary file."""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.problems import PROBLEM_JSON, Problem

MULTIPART_SLACK: Final = 64 * 1024  # boundaries, part headers and the small form fields around the file


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, upload_paths: frozenset[str], upload_limit: int, other_limit: int) -> None:
        self.app, self.upload_paths = app, upload_paths
        self.upload_limit, self.other_limit = upload_limit, other_limit

    def _limit(self, path: str) -> tuple[int, str]:
        if path in self.upload_paths:
            return self.upload_limit + MULTIPART_SLACK, f"the upload is over the {self.upload_limit}-byte limit"
        return self.other_limit, f"the request body is over the {self.other_limit}-byte limit"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, message = self._limit(scope.get("path", ""))
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(scope, send, message)
            return
        received, over = 0, [False]

        async def counting_receive() -> Message:
            nonlocal received
            incoming = await receive()
            if incoming["type"] == "http.request":
                received += len(incoming.get("body", b""))
                if received > limit:
                    over[0] = True
                    raise BodyTooLarge(message)
            return incoming

        answered = [False]

        async def send_unless_over(outgoing: Message) -> None:
            # The app turns a body error into its own answer (400); over the limit, ours replaces it.
            if over[0]:
                if not answered[0]:
                    answered[0] = True
                    await _refuse(scope, send, message)
                return
            await send(outgoing)

        try:
            await self.app(scope, counting_receive, send_unless_over)
        except BodyTooLarge:
            if not answered[0]:
                await _refuse(scope, send, message)


async def _refuse(scope: Scope, send: Send, detail: str) -> None:
    problem = Problem(title="Content Too Large", status=413, detail=detail, instance=scope.get("path"))
    body = problem.model_dump_json(exclude_none=True).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
