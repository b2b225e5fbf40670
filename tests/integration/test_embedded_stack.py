"""The embedded parts start on free loopback ports, keep their data, and refuse to share a data dir; a new data
dir is a copy of one template cluster, made once."""

from __future__ import annotations

import asyncio
import hashlib
from importlib.metadata import version
from pathlib import Path

import asyncpg
import pytest

from shared.devstack import postgres
from shared.devstack.postgres import EmbeddedPostgres
from shared.devstack.process import port_open
from shared.devstack.stack import EmbeddedStack
from shared.platform.settings import Settings

pytestmark = pytest.mark.integration


async def _scalar(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def test_postgres_keeps_its_data_across_restarts(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    url = pg.start()
    try:
        asyncio.run(_scalar(url, "CREATE TABLE kept AS SELECT 42 AS answer"))
        second = EmbeddedPostgres(tmp_path / "pg")
        with pytest.raises(RuntimeError, match="already runs on"):
            second.start()
    finally:
        pg.stop()
    assert not port_open("127.0.0.1", pg.port)
    again = EmbeddedPostgres(tmp_path / "pg")
    url = again.start()
    try:
        assert asyncio.run(_scalar(url, "SELECT answer FROM kept")) == 42
    finally:
        again.stop()


def test_stack_starts_only_what_is_not_configured(tmp_path: Path) -> None:
    external = EmbeddedPostgres(tmp_path / "external-pg")
    external_url = external.start()
    try:
        stack = EmbeddedStack(Settings(database_url=external_url, state_dir=tmp_path / "state"))
        with stack as endpoints:
            assert endpoints.database_url == external_url
            assert not endpoints.embedded_postgres
            assert endpoints.embedded_kafka
            assert stack.postgres is None
            host, port = endpoints.kafka_bootstrap.split(":")
            assert port_open(host, int(port))
        assert not port_open(host, int(port))
    finally:
        external.stop()


def test_postgres_asks_for_a_password_also_on_a_data_dir_made_with_trust(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg" / "data")
    pg.start()
    pg.stop()
    # what an older version left: trust in pg_hba.conf and no kept secret
    hba = tmp_path / "pg" / "data" / "pg_hba.conf"
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    pg.secret_path.unlink()
    again = EmbeddedPostgres(tmp_path / "pg" / "data")
    url = again.start()
    try:
        assert "trust" not in hba.read_text()
        assert again.secret_path.stat().st_mode & 0o777 == 0o600
        assert asyncio.run(_scalar(url, "SELECT 1")) == 1
        with pytest.raises(asyncpg.InvalidPasswordError):
            asyncio.run(_scalar(f"postgresql://postgres@127.0.0.1:{again.port}/bts", "SELECT 1"))
    finally:
        again.stop()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_data_dirs_copy_one_template_cluster_made_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "TEMPLATE_ROOT", tmp_path / "cache")
    first = EmbeddedPostgres(tmp_path / "a" / "data")
    url = first.start()
    try:
        asyncio.run(_scalar(url, "CREATE TABLE only_in_a (x int)"))
    finally:
        first.stop()
    templates = list((tmp_path / "cache").iterdir())
    assert [t.name for t in templates] == [f"postgres-{version('embedded-postgres')}-{postgres.TEMPLATE_REVISION}"]
    control = templates[0] / "global" / "pg_control"
    made = (control.stat().st_mtime_ns, _digest(control))
    second = EmbeddedPostgres(tmp_path / "b" / "data")
    url = second.start()
    try:
        assert asyncio.run(_scalar(url, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'")) == 0
        assert second.secret_path.read_text() != first.secret_path.read_text()
    finally:
        second.stop()
    assert (control.stat().st_mtime_ns, _digest(control)) == made  # copied, not made again nor started
    assert "trust" in (templates[0] / "pg_hba.conf").read_text()  # the copies' passwords are theirs alone


@pytest.mark.parametrize("root", ["under a file", "no home directory", "no cp to copy it"])
def test_without_a_usable_template_a_data_dir_runs_initdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: str
) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    places = {"under a file": in_the_way / "bts", "no home directory": None, "no cp to copy it": tmp_path / "cache"}
    monkeypatch.setattr(postgres, "TEMPLATE_ROOT", places[root])
    if root == "no cp to copy it":
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # the wheel's binaries are run by their full path
    pg = EmbeddedPostgres(tmp_path / "pg" / "data")
    url = pg.start()
    try:
        assert asyncio.run(_scalar(url, "SELECT current_database()")) == "bts"
    finally:
        pg.stop()
