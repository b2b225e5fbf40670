"""Sign-in with an API key (a session cookie from then on), sign-out, and the console's own static files."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from services.api.auth import _client
from services.api.handlers.deps import Db
from services.api.problems import ProblemError
from services.api.ui.security import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    cleared,
    csrf_matches,
    new_token,
    safe_next,
    served_over_tls,
    session_cookie,
    signin_cookie,
)
from services.api.ui.sessions import close_session, open_session, session_for
from services.api.ui.web import HERE, ConsoleRoute, Writer, render, set_cookie

router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)
STATIC = {path.name: path for path in (HERE / "static").iterdir() if path.is_file()}


def _signin_form(request: Request, target: str, error: str | None = None, status_code: int = 200) -> Response:
    token = new_token()
    response = render(request, "signin.html.j2", status_code=status_code, signin_csrf=token, next=target, error=error)
    set_cookie(response, signin_cookie(token, served_over_tls(request.url.scheme)))
    return response


@router.get("")
async def home(request: Request, conn: Db, next: Annotated[str, Query(max_length=2000)] = "") -> Response:
    """The sign-in page, or straight to the backtests when already signed in."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and await session_for(conn, token) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _signin_form(request, safe_next(next))


@router.post("/signin")
async def sign_in(
    request: Request,
    conn: Db,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """An API key in, a session cookie out. The form's token must match its cookie (double submit); wrong keys
    count against the client like wrong Bearer keys (429 past the limit)."""
    target = safe_next(next)
    if not csrf_matches(request.cookies.get(SIGNIN_COOKIE), csrf_token):
        raise ProblemError(403, "Forbidden", "the sign-in form's CSRF token is missing or wrong: reload the page")
    failures = request.app.state.auth_failures
    client = _client(request)
    wait = failures.retry_after(client)
    opened = await open_session(conn, api_key.strip(), datetime.now(UTC)) if api_key.strip() else None
    if opened is None:
        failures.record(client)
        if wait is not None:
            raise ProblemError(429, "Too Many Requests", f"too many failed sign-ins: try again in {int(wait) + 1} s")
        return _signin_form(request, target, "unknown or revoked API key", status_code=401)
    secure = served_over_tls(request.url.scheme)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, session_cookie(opened.token, secure))
    set_cookie(response, cleared(SIGNIN_COOKIE, secure))
    return response


@router.post("/signout")
async def sign_out(request: Request, session: Writer, conn: Db) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    await close_session(conn, token)
    response = RedirectResponse("/ui", status_code=303)
    set_cookie(response, cleared(SESSION_COOKIE, served_over_tls(request.url.scheme)))
    return response


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The console's own CSS and script (nothing from elsewhere: it works offline)."""
    path = STATIC.get(name)
    if path is None:
        raise ProblemError(404, "Not Found", f"no static file {name!r}")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
