"""A revoked key leaves the key cache of every gateway process at once, not after the cache's 30 s: the
revoking connection NOTIFYs, and each process's `RevokedKeys` listener (its own database connection, as in
another worker or replica) drops the key. After a lost connection the listener reconnects and empties the
cache, since it may have missed a revocation meanwhile."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from services.api import auth
from services.api.auth import RevokedKeys
from services.api.users import KeyOwner, add_key, create_user, revoke_key
from shared.devstack.stack import Endpoints
from shared.platform.apikeys import hash_key
from shared.platform.db.urls import role_url
from tests.conftest import ROLE_PASSWORD

pytestmark = pytest.mark.integration
Connect = Callable[[str], Awaitable[asyncpg.Connection]]


async def _until(condition: Callable[[], bool], within_s: float = 10) -> None:
    for _ in range(int(within_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_a_revocation_reaches_a_listening_cache_at_once(
    migrated: Endpoints, connect_as: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RevokedKeys, "RETRY_S", 1.0)  # long enough to see it not listening
    listener = RevokedKeys(role_url(migrated.database_url, "api", ROLE_PASSWORD))
    await listener.start()
    conn = await connect_as("api")
    try:
        await asyncio.wait_for(listener.listening.wait(), timeout=30)
        user = await create_user(conn, f"revoker-{uuid.uuid4().hex[:6]}")
        spare = await add_key(conn, user.user_id)
        owner = KeyOwner(user.user_id, is_admin=False)
        auth._known_keys[hash_key(user.api_key)] = owner  # both keys recently used, so cached
        auth._known_keys[hash_key(spare.api_key)] = owner

        assert await revoke_key(conn, user.user_id, spare.key_id) == hash_key(spare.api_key)
        await _until(lambda: auth.known_caller(f"Bearer {spare.api_key}") is None, within_s=5)
        assert auth.known_caller(f"Bearer {user.api_key}") == owner  # only the revoked key is dropped

        # the listener's connection is killed: it reconnects and forgets everything it may have missed
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
        )
        await _until(lambda: not listener.listening.is_set())
        await asyncio.wait_for(listener.listening.wait(), timeout=30)
        assert auth.known_caller(f"Bearer {user.api_key}") is None
    finally:
        await listener.stop()
        await conn.close()
