"""Console sessions in the real database (as the gateway's own role): opened with a valid key only, found
by their token, ended by sign-out, by expiry and by revoking the key they came from."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.api.ui.security import SESSION_LIFETIME, token_digest
from services.api.ui.sessions import close_session, open_session, session_for
from services.api.users import create_user, list_keys, revoke_key

pytestmark = pytest.mark.integration


async def test_a_session_lives_while_its_key_does_and_until_sign_out_or_expiry(
    connect_as: Callable[[str], Awaitable[asyncpg.Connection]],
) -> None:
    conn = await connect_as("api")
    try:
        user = await create_user(conn, f"console-{uuid.uuid4().hex[:8]}")
        assert await open_session(conn, "bts_not_a_key", datetime.now(UTC)) is None

        opened = await open_session(conn, user.api_key, datetime.now(UTC))
        assert opened is not None
        assert opened.session.user_id == user.user_id
        assert opened.session.user_name == user.name
        assert opened.session.is_admin is False
        assert await session_for(conn, opened.token) == opened.session
        stored = await conn.fetchval(
            "SELECT count(*) FROM api.console_sessions WHERE token_hash = $1 OR token_hash = $2",
            opened.token,
            token_digest(opened.token),
        )
        assert stored == 1  # only the digest is kept
        assert await session_for(conn, opened.token + "x") is None

        await close_session(conn, opened.token)  # sign-out
        assert await session_for(conn, opened.token) is None

        second = await open_session(conn, user.api_key, datetime.now(UTC))
        assert second is not None
        key_id = (await list_keys(conn, user.user_id))[0].key_id
        await revoke_key(conn, user.user_id, key_id)
        assert await session_for(conn, second.token) is None  # the key is revoked: so is its session
        assert await open_session(conn, user.api_key, datetime.now(UTC)) is None

        other = await create_user(conn, f"console-{uuid.uuid4().hex[:8]}")
        old = await open_session(conn, other.api_key, datetime.now(UTC) - SESSION_LIFETIME - timedelta(seconds=1))
        assert old is not None
        assert await session_for(conn, old.token) is None  # expired
        await open_session(conn, other.api_key, datetime.now(UTC))  # a sign-in clears expired rows
        left = await conn.fetchval(
            "SELECT count(*) FROM api.console_sessions WHERE token_hash = $1", token_digest(old.token)
        )
        assert left == 0
    finally:
        await conn.close()
