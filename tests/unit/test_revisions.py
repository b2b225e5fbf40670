"""The readiness check's head revision (read from the migration files) is alembic's, for every service."""

from __future__ import annotations

from pathlib import Path

import pytest

from bts.migrations import migrations_dir
from shared.platform.db import migrate, revisions
from shared.platform.db.ownership import SERVICE_NAMES


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_head_revision_without_alembic_is_alembics(service: str) -> None:
    folder = migrations_dir(service)
    assert revisions.head_revision(folder) == migrate.head_revision(folder)
    assert revisions.head_revision(folder) is not None


def _migration(folder: Path, revision: str, down: str | None) -> None:
    down_text = f'"{down}"' if down else "None"
    (folder / f"{revision}_x.py").write_text(f'revision = "{revision}"\ndown_revision = {down_text}\n')


def test_a_fork_in_the_chain_is_an_error(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    _migration(versions, "0001", None)
    _migration(versions, "0002", "0001")
    assert revisions.head_revision(tmp_path) == "0002"
    _migration(versions, "0003", "0001")
    with pytest.raises(ValueError, match=r"several heads \['0002', '0003'\]"):
        revisions.head_revision(tmp_path)
