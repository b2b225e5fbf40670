"""Users and their API keys (schema `api`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from shared.apikeys import hash_key, new_key
from shared.db.types import Connection


@dataclass(frozen=True)
class CreatedUser:
    user_id: UUID
    name: str
    api_key: str


class UserExistsError(Exception):
    pass


async def create_user(conn: Connection, name: str) -> CreatedUser:
    """A user and a first API key; the key is returned once and only its hash is stored."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValueError("name must be 1 to 100 characters")
    key = new_key()
    user_id = uuid.uuid4()
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO api.users (id, name) VALUES ($1, $2)", user_id, name)
            await conn.execute(
                "INSERT INTO api.api_keys (id, user_id, key_hash, prefix) VALUES ($1, $2, $3, $4)",
                uuid.uuid4(), user_id, key.hash, key.prefix,
            )  # fmt: skip
    except asyncpg.UniqueViolationError as exc:
        raise UserExistsError(f"a user named {name!r} already exists") from exc
    return CreatedUser(user_id=user_id, name=name, api_key=key.plaintext)


async def user_for_key(conn: Connection, plaintext: str) -> UUID | None:
    """The user a presented key belongs to, or None for an unknown or revoked key."""
    value = await conn.fetchval(
        "SELECT user_id FROM api.api_keys WHERE key_hash = $1 AND revoked_at IS NULL", hash_key(plaintext)
    )
    return UUID(str(value)) if value is not None else None


async def new_key_for(conn: Connection, name: str) -> CreatedUser:
    """Another key for user `name`, creating the user if needed (used by `bts up` for its demo key)."""
    user_id = await conn.fetchval("SELECT id FROM api.users WHERE name = $1", name)
    if user_id is None:
        try:
            return await create_user(conn, name)
        except UserExistsError:  # created concurrently: fall through and add a key
            user_id = await conn.fetchval("SELECT id FROM api.users WHERE name = $1", name)
    key = new_key()
    await conn.execute(
        "INSERT INTO api.api_keys (id, user_id, key_hash, prefix) VALUES ($1, $2, $3, $4)",
        uuid.uuid4(), user_id, key.hash, key.prefix,
    )  # fmt: skip
    return CreatedUser(user_id=UUID(str(user_id)), name=name, api_key=key.plaintext)
