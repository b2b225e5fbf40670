"""The demo key of a local stack: one admin key for user `demo`, kept in the state directory (mode 0600)
across restarts of `bts up`, so starting the stack again neither adds a key nor invalidates the old one.
A kept key that was revoked (or whose user lost admin rights) is replaced by a new one, kept in its place."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from shared.platform.accounts import key_owner, new_key_for
from shared.platform.db.urls import asyncpg_dsn
from shared.platform.private_files import write_private

DEMO_USER = "demo"


def demo_key_path(state_dir: Path) -> Path:
    return state_dir / "demo.key"


def kept_demo_key(state_dir: Path, api_database_url: str) -> str:
    """The kept demo key if it still works as an admin's, else a new one (then kept)."""
    path = demo_key_path(state_dir)
    kept = path.read_text().strip() if path.exists() else ""
    key = asyncio.run(_valid_or_new(kept, api_database_url))
    if key != kept:
        write_private(path, key + "\n")
    path.chmod(0o600)
    return key


async def _valid_or_new(kept: str, api_database_url: str) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(api_database_url))
    try:
        owner = await key_owner(conn, kept) if kept else None
        if owner is not None and owner.is_admin:
            return kept
        return (await new_key_for(conn, DEMO_USER, admin=True)).api_key  # the operator of a local stack
    finally:
        await conn.close()
