"""A new embedded database copies a cluster whose schemas the same migrations made (bts/migrated_template.py):
its migrations then only set its roles' passwords and grants."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

import bts.migrations
from bts.migrations import migrate_all, migrated_template_name, migrations_digest
from shared.devstack import postgres
from shared.devstack.postgres import EmbeddedPostgres, prepared_template
from shared.platform.db.migrate import head_revision
from shared.platform.db.ownership import SERVICE_NAMES
from shared.platform.db.revisions import applied_revision
from shared.platform.db.urls import asyncpg_dsn, role_url

pytestmark = pytest.mark.integration


async def _revisions(url: str) -> dict[str, str | None]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return {service: await applied_revision(conn, service) for service in SERVICE_NAMES}
    finally:
        await conn.close()


async def _logs_in(url: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


def test_a_new_database_copies_the_migrated_template_and_only_sets_its_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "TEMPLATE_ROOT", tmp_path / "cache" / "bts")
    name = migrated_template_name()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-m", "bts.migrated_template", name], env=env, check=True, timeout=300)
    template = prepared_template(name)
    assert template is not None
    assert (template / "PG_VERSION").exists()
    heads = {service: head_revision(bts.migrations.migrations_dir(service)) for service in SERVICE_NAMES}

    copy = EmbeddedPostgres(tmp_path / "state" / "data", template=template)
    url = copy.start()
    try:
        assert copy.copied_prepared_template
        assert asyncio.run(_revisions(url)) == heads  # migrated before this stack's migrations ran
        migrate_all(url, "this-stacks-own")
        assert asyncio.run(_revisions(url)) == heads
        assert asyncio.run(_logs_in(role_url(url, "engine", "this-stacks-own"))) == 1
        with pytest.raises(asyncpg.InvalidPasswordError):
            asyncio.run(_logs_in(role_url(url, "engine", "bts")))
    finally:
        copy.stop()
    # made once: a second build finds it
    before = (template / "global" / "pg_control").stat().st_mtime_ns
    subprocess.run([sys.executable, "-m", "bts.migrated_template", name], env=env, check=True, timeout=300)
    assert (template / "global" / "pg_control").stat().st_mtime_ns == before


def test_the_digest_follows_every_services_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = bts.migrations.migrations_dir
    copies = {}
    for service in SERVICE_NAMES:
        copies[service] = tmp_path / service / "migrations"
        shutil.copytree(real(service), copies[service], ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(bts.migrations, "migrations_dir", lambda service: copies[service])
    before = migrations_digest()
    assert migrations_digest() == before
    (copies["reporting"] / "versions" / "9999_later.py").write_text("revision = '9999'\n")
    assert migrations_digest() != before
