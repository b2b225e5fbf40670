"""Database URL helpers: one admin URL in, per-service role URLs and driver-specific forms out."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from shared.platform.db.ownership import schema_of


def role_url(admin_url: str, service: str, password: str) -> str:
    """The URL a service uses: same host and database as `admin_url`, its own login role."""
    parts = urlsplit(admin_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{schema_of(service).role}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def asyncpg_dsn(url: str) -> str:
    """asyncpg wants postgresql:// (no SQLAlchemy driver suffix)."""
    scheme, _, rest = url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgres") else url


def sqlalchemy_url(url: str) -> str:
    _, _, rest = url.partition("://")
    return "postgresql+asyncpg://" + rest


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
