"""The `bts` command line as scripts use it: exit codes, --json, clear messages, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from shared.devstack.stack import Endpoints
from shared.platform.apikeys import hash_key
from shared.platform.db.urls import asyncpg_dsn

pytestmark = pytest.mark.integration


def bts(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BTS_")}
    return subprocess.run(
        [sys.executable, "-m", "bts", *args], env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60
    )


def test_user_create_prints_a_key_whose_hash_is_stored(migrated: Endpoints) -> None:
    name = f"alice-{uuid.uuid4().hex[:6]}"
    result = bts("user", "create", name, "--json", env={"BTS_DATABASE_URL": migrated.database_url})
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["api_key"].startswith("bts_")

    async def stored() -> tuple[str, str]:
        conn = await asyncpg.connect(asyncpg_dsn(migrated.database_url))
        try:
            row = await conn.fetchrow(
                "SELECT u.name, k.key_hash FROM api.users u JOIN api.api_keys k ON k.user_id = u.id WHERE u.id = $1",
                uuid.UUID(created["user_id"]),
            )
            return row["name"], row["key_hash"]
        finally:
            await conn.close()

    stored_name, stored_hash = asyncio.run(stored())
    assert stored_name == name
    assert stored_hash == hash_key(created["api_key"])
    assert created["api_key"] not in stored_hash
    again = bts("user", "create", name, env={"BTS_DATABASE_URL": migrated.database_url})
    assert again.returncode == 1
    assert f"a user named '{name}' already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_without_a_stack_the_message_says_how_to_start_it(tmp_path: Path) -> None:
    result = bts("user", "create", "bob", env={"BTS_STATE_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "Start it with `bts up`" in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "code"), [(("nosuch",), 2), (("user", "create"), 2), (("migrate",), 1)])
def test_bad_invocations_exit_non_zero_without_traceback(args: tuple[str, ...], code: int) -> None:
    result = bts(*args)
    assert result.returncode == code
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()
