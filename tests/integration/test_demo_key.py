"""`bts up` keeps one demo key in its state directory: the same key on every start while it works, a new one
(kept in its place) once it was revoked; never a key per start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from bts.demo_key import DEMO_USER, demo_key_path, kept_demo_key
from services.api.users import key_owner
from shared.devstack.stack import Endpoints
from shared.platform.db.urls import asyncpg_dsn, role_url
from tests.conftest import ROLE_PASSWORD

pytestmark = pytest.mark.integration


async def _demo_keys(admin_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        return await conn.fetch(
            "SELECT k.id, k.revoked_at FROM api.api_keys k JOIN api.users u ON u.id = k.user_id WHERE u.name = $1",
            DEMO_USER,
        )
    finally:
        await conn.close()


async def _revoke_all(admin_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(
            "UPDATE api.api_keys SET revoked_at = now() WHERE user_id = (SELECT id FROM api.users WHERE name = $1)",
            DEMO_USER,
        )
    finally:
        await conn.close()


async def _owner_is_admin(api_url: str, key: str) -> bool:
    conn = await asyncpg.connect(asyncpg_dsn(api_url))
    try:
        owner = await key_owner(conn, key)
    finally:
        await conn.close()
    return owner is not None and owner.is_admin


def test_the_demo_key_is_kept_across_starts_and_replaced_once_revoked(migrated: Endpoints, tmp_path: Path) -> None:
    api_url = role_url(migrated.database_url, "api", ROLE_PASSWORD)
    before = len(asyncio.run(_demo_keys(migrated.database_url)))
    first = kept_demo_key(tmp_path, api_url)
    assert demo_key_path(tmp_path).stat().st_mode & 0o777 == 0o600
    assert kept_demo_key(tmp_path, api_url) == first  # a second start: the same key
    assert kept_demo_key(tmp_path, api_url) == first
    assert len(asyncio.run(_demo_keys(migrated.database_url))) == before + 1  # one key, not one per start
    assert asyncio.run(_owner_is_admin(api_url, first))

    asyncio.run(_revoke_all(migrated.database_url))
    replaced = kept_demo_key(tmp_path, api_url)
    assert replaced != first
    assert demo_key_path(tmp_path).read_text().strip() == replaced
    assert asyncio.run(_owner_is_admin(api_url, replaced))
