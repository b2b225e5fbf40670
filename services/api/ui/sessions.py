"""Console sessions in api.console_sessions (migration 0023): open one with an API key, find it by its token,
close it. A session lives as long as its key is not revoked and it has not expired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.api.ui.security import SESSION_LIFETIME, new_token, token_digest
from services.api.users import key_owner
from shared.platform.apikeys import hash_key
from shared.platform.db.types import Connection


@dataclass(frozen=True)
class ConsoleSession:
    """Who is signed in, and the token their forms must carry."""

    user_id: UUID
    user_name: str
    is_admin: bool
    csrf_token: str


@dataclass(frozen=True)
class OpenedSession:
    token: str
    session: ConsoleSession


async def open_session(conn: Connection, api_key: str, now: datetime) -> OpenedSession | None:
    """A new session for a valid, unrevoked key (None otherwise); expired sessions are cleared on the way."""
    owner = await key_owner(conn, api_key)  # the gateway's own check; it notes the key as used
    if owner is None:
        return None
    token, csrf = new_token(), new_token()
    async with conn.transaction():
        await conn.execute("DELETE FROM api.console_sessions WHERE expires_at <= $1", now)
        name = await conn.fetchval(
            "WITH opened AS (INSERT INTO api.console_sessions (token_hash, key_id, csrf_token, created_at, expires_at) "
            "SELECT $1, k.id, $2, $3, $4 FROM api.api_keys k WHERE k.key_hash = $5 AND k.revoked_at IS NULL "
            "RETURNING key_id) SELECT u.name FROM opened JOIN api.api_keys k ON k.id = opened.key_id "
            "JOIN api.users u ON u.id = k.user_id",
            token_digest(token),
            csrf,
            now,
            now + SESSION_LIFETIME,
            hash_key(api_key),
        )
    if name is None:  # revoked between the two statements
        return None
    return OpenedSession(token, ConsoleSession(owner.user_id, str(name), owner.is_admin, csrf))


async def session_for(conn: Connection, token: str) -> ConsoleSession | None:
    """The live session of a cookie's token: unexpired, and its key not revoked."""
    row = await conn.fetchrow(
        "SELECT u.id, u.name, u.is_admin, s.csrf_token FROM api.console_sessions s "
        "JOIN api.api_keys k ON k.id = s.key_id AND k.revoked_at IS NULL JOIN api.users u ON u.id = k.user_id "
        "WHERE s.token_hash = $1 AND s.expires_at > now()",
        token_digest(token),
    )
    if row is None:
        return None
    return ConsoleSession(UUID(str(row["id"])), str(row["name"]), bool(row["is_admin"]), str(row["csrf_token"]))


async def close_session(conn: Connection, token: str) -> None:
    await conn.execute("DELETE FROM api.console_sessions WHERE token_hash = $1", token_digest(token))
