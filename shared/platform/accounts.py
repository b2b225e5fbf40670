"""Users and API keys in schema `api`, the writes an operator makes too: a user with a first key
(`bts user create`), another key for a named user (`bts up`'s demo key) and who a key belongs to.

The gateway owns schema `api` and uses these functions; the CLI calls them through the `api` role, so
both write the same rows the same way and the CLI imports no service package."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from shared.platform.apikeys import hash_key, new_key
from shared.platform.db.types import Connection


@dataclass(frozen=True)
class CreatedUser:
    user_id: UUID
    name: str
    api_key: str
    is_admin: bool = False


@dataclass(frozen=True)
class KeyOwner:
    user_id: UUID
    is_admin: bool


class UserExistsError(Exception):
    pass


async def create_user(conn: Connection, name: str, admin: bool = False) -> CreatedUser:
    """A user and a first API key; the key is returned once and only its hash is stored."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValueError("name must be 1 to 100 characters")
    key = new_key()
    user_id = uuid.uuid4()
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO api.users (id, name, is_admin) VALUES ($1, $2, $3)", user_id, name, admin)
            await conn.execute(
                "INSERT INTO api.api_keys (id, user_id, key_hash, prefix) VALUES ($1, $2, $3, $4)",
                uuid.uuid4(),
                user_id,
                key.hash,
                key.prefix,
            )
    except asyncpg.UniqueViolationError as exc:
        raise UserExistsError(f"a user named {name!r} already exists") from exc
    return CreatedUser(user_id=user_id, name=name, api_key=key.plaintext, is_admin=admin)


async def key_owner(conn: Connection, plaintext: str) -> KeyOwner | None:
    """Who a presented key belongs to, or None for an unknown or revoked key; notes the key as used now."""
    row = await conn.fetchrow(
        "WITH used AS (UPDATE api.api_keys SET last_used_at = now() WHERE key_hash = $1 AND revoked_at IS NULL "
        "RETURNING user_id) SELECT u.id, u.is_admin FROM used JOIN api.users u ON u.id = used.user_id",
        hash_key(plaintext),
    )
    return KeyOwner(UUID(str(row["id"])), bool(row["is_admin"])) if row is not None else None


async def new_key_for(conn: Connection, name: str, admin: bool = False) -> CreatedUser:
    """Another key for user `name`, creating the user if needed (used by `bts up` for its demo key, an
    admin one); `admin` makes an existing user an admin too."""
    user_id = await conn.fetchval("SELECT id FROM api.users WHERE name = $1", name)
    if user_id is None:
        try:
            return await create_user(conn, name, admin)
        except UserExistsError:  # created concurrently: fall through and add a key
            user_id = await conn.fetchval("SELECT id FROM api.users WHERE name = $1", name)
    key = new_key()
    async with conn.transaction():
        is_admin = await conn.fetchval(
            "UPDATE api.users SET is_admin = is_admin OR $2 WHERE id = $1 RETURNING is_admin", user_id, admin
        )
        await conn.execute(
            "INSERT INTO api.api_keys (id, user_id, key_hash, prefix) VALUES ($1, $2, $3, $4)",
            uuid.uuid4(),
            user_id,
            key.hash,
            key.prefix,
        )
    return CreatedUser(user_id=UUID(str(user_id)), name=name, api_key=key.plaintext, is_admin=bool(is_admin))
