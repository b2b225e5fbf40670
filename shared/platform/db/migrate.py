"""Run a service's alembic migrations programmatically, and tell whether a schema is at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from shared.platform.db.revisions import applied_revision

__all__ = ["alembic_config", "applied_revision", "head_revision", "upgrade"]


def alembic_config(migrations_dir: Path, database_url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(migrations_dir: Path, database_url: str) -> None:
    """Bring one service's schema to head. Sync: call it outside a running event loop."""
    command.upgrade(alembic_config(migrations_dir, database_url), "head")


def head_revision(migrations_dir: Path) -> str | None:
    return ScriptDirectory.from_config(alembic_config(migrations_dir)).get_current_head()
