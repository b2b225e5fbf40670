"""The console's plumbing: templates, the signed-in dependencies, CSRF checks, and a route class that turns the
gateway's problems into HTML pages (a 404 page for another user's id, as the REST API answers 404)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.api.problems import ProblemError
from services.api.ui.security import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Cookie, csrf_matches
from services.api.ui.sessions import ConsoleSession, session_for

HERE = Path(__file__).resolve().parent
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _pct(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{float(value) * 100:.{digits}f}%"


def _num(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{float(value):,.{digits}f}"


templates.filters["pct"] = _pct
templates.filters["num"] = _num


class SignInRequired(Exception):
    """No live session: the page asks to sign in, then comes back."""


def render(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A page (or a fragment) of the console; every page knows who is signed in and their CSRF token."""
    session: ConsoleSession | None = getattr(request.state, "console", None)
    html = templates.get_template(name).render(request=request, session=session, csrf_field=CSRF_FIELD, **values)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


# Every asset is ours: nothing from elsewhere may load, scripts only from /ui/static.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def set_cookie(response: Response, cookie: Cookie) -> None:
    if cookie.max_age is None:
        response.delete_cookie(
            cookie.name, path=cookie.path, secure=cookie.secure, httponly=cookie.httponly, samesite=cookie.samesite
        )
        return
    response.set_cookie(
        cookie.name,
        cookie.value,
        max_age=cookie.max_age,
        path=cookie.path,
        secure=cookie.secure,
        httponly=cookie.httponly,
        samesite=cookie.samesite,
    )


def _error_page(request: Request, status: int, title: str, detail: str | None) -> HTMLResponse:
    return render(request, "error.html.j2", status_code=status, status=status, title=title, detail=detail)


class ConsoleRoute(APIRoute):
    """Answers with HTML: a sign-in redirect without a session, an error page for a problem."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/ui?next={quote(target, safe='')}", status_code=303)
            except ProblemError as exc:
                problem = exc.problem
                return _error_page(request, problem.status, problem.title, problem.detail)
            except RequestValidationError as exc:
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
                return _error_page(request, 422, "Unprocessable Content", detail)

        return handler


async def signed_in(request: Request) -> ConsoleSession:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired
    async with request.app.state.ctx.pool.acquire() as conn:
        session = await session_for(conn, token)
    if session is None:
        raise SignInRequired
    request.state.console = session
    return session


Session = Annotated[ConsoleSession, Depends(signed_in)]


async def csrf_checked(request: Request, session: Session) -> ConsoleSession:
    """Every state-changing request: the session's CSRF token, as a form field or (scripts) a header."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not csrf_matches(session.csrf_token, given):
        raise ProblemError(403, "Forbidden", "the form's CSRF token is missing or wrong: reload the page and try again")
    return session


Writer = Annotated[ConsoleSession, Depends(csrf_checked)]


async def admin_session(session: Session) -> ConsoleSession:
    if not session.is_admin:
        raise ProblemError(403, "Forbidden", "operations are for admins (`bts user create NAME --admin`)")
    return session


Admin = Annotated[ConsoleSession, Depends(admin_session)]


async def admin_writer(session: Writer) -> ConsoleSession:
    return await admin_session(session)


AdminWriter = Annotated[ConsoleSession, Depends(admin_writer)]


async def form_text(request: Request) -> dict[str, str]:
    """The submitted form's text fields (files left out), last value of each name."""
    form = await request.form()
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


FormText = Annotated[Mapping[str, str], Depends(form_text)]
