"""Users and their API keys (schema `api`). Admins (operators) may also call /ops.

Creating a user, a key for a named user and checking a key are in `shared.platform.accounts`: `bts user create`
and `bts up`'s demo key use them too, and the CLI imports no service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from shared.platform.accounts import CreatedUser, KeyOwner, UserExistsError, create_user, key_owner, new_key_for
from shared.platform.apikeys import new_key
from shared.platform.db.types import Connection

__all__ = [
    "KEY_REVOKED_CHANNEL",
    "ApiKeyInfo",
    "CreatedUser",
    "KeyOwner",
    "NewApiKey",
    "UserExistsError",
    "add_key",
    "create_user",
    "key_owner",
    "list_keys",
    "new_key_for",
    "revoke_key",
    "user_for_key",
]

# PostgreSQL NOTIFY channel: every gateway process listens and drops a revoked key from its cache at once.
KEY_REVOKED_CHANNEL = "bts_api_key_revoked"


@dataclass(frozen=True)
class NewApiKey:
    key_id: UUID
    api_key: str


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: UUID
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def add_key(conn: Connection, user_id: UUID) -> NewApiKey:
    """Another key for `user_id`; the plaintext is returned once, only its hash is stored."""
    key, key_id = new_key(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO api.api_keys (id, user_id, key_hash, prefix) VALUES ($1, $2, $3, $4)",
        key_id,
        user_id,
        key.hash,
        key.prefix,
    )
    return NewApiKey(key_id=key_id, api_key=key.plaintext)


async def list_keys(conn: Connection, user_id: UUID) -> list[ApiKeyInfo]:
    """The user's keys, newest first (never the key itself: it is not stored)."""
    rows = await conn.fetch(
        "SELECT id, prefix, created_at, last_used_at, revoked_at FROM api.api_keys WHERE user_id = $1 "
        "ORDER BY created_at DESC, id",
        user_id,
    )
    return [
        ApiKeyInfo(UUID(str(r["id"])), r["prefix"], r["created_at"], r["last_used_at"], r["revoked_at"]) for r in rows
    ]


async def revoke_key(conn: Connection, user_id: UUID, key_id: UUID) -> str | None:
    """Revoke one of the user's keys (again is fine). Returns its hash, so caches can forget it; None when the
    user has no such key. Other gateway processes hear of it through `KEY_REVOKED_CHANNEL`."""
    key_hash: str | None = await conn.fetchval(
        "UPDATE api.api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND user_id = $2 "
        "RETURNING key_hash",
        key_id,
        user_id,
    )
    if key_hash is not None:
        await conn.execute("SELECT pg_notify($1, $2)", KEY_REVOKED_CHANNEL, key_hash)
    return key_hash


async def user_for_key(conn: Connection, plaintext: str) -> UUID | None:
    owner = await key_owner(conn, plaintext)
    return owner.user_id if owner is not None else None
