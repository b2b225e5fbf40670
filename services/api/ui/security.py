"""The console's session and CSRF rules, free of I/O so they can be tested alone.

A sign-in turns an API key into a random session token: the cookie carries the token, the database keeps only
its SHA-256 (like API keys). Every state-changing form carries the session's CSRF token (synchronizer token);
the sign-in form, which has no session yet, carries a double-submit token (a cookie and a field that must match).
Cookies are HttpOnly, SameSite=Strict, scoped to /ui, and Secure when the console is served over TLS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

SESSION_COOKIE = "bts_session"
SIGNIN_COOKIE = "bts_signin_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/ui"
SESSION_LIFETIME = timedelta(hours=12)
SIGNIN_LIFETIME = timedelta(minutes=30)
HOME = "/ui/backtests"


def new_token() -> str:
    """256 random bits, URL-safe (a session token or a CSRF token)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the database keeps of a session token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """True only for a non-empty token equal to the expected one (compared in constant time)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def served_over_tls(scheme: str) -> bool:
    """The request's scheme as the app sees it (uvicorn's proxy headers make it https behind a TLS proxy)."""
    return scheme in ("https", "wss")


@dataclass(frozen=True)
class Cookie:
    """A cookie to set (max_age None: ask the browser to drop it)."""

    name: str
    value: str
    max_age: int | None
    secure: bool
    path: str = COOKIE_PATH
    httponly: bool = True
    samesite: Literal["strict"] = "strict"


def session_cookie(token: str, secure: bool) -> Cookie:
    return Cookie(SESSION_COOKIE, token, int(SESSION_LIFETIME.total_seconds()), secure)


def signin_cookie(token: str, secure: bool) -> Cookie:
    return Cookie(SIGNIN_COOKIE, token, int(SIGNIN_LIFETIME.total_seconds()), secure)


def cleared(name: str, secure: bool) -> Cookie:
    return Cookie(name, "", None, secure)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path of the console itself (never another site: no open redirect)."""
    if not target:
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/ui") or target.startswith("//") or "\\" in target:
        return HOME
    return target
