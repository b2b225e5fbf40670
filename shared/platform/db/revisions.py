"""Which migration a schema is at and which is the newest, without importing alembic (0.75 s of every
service's start-up, see docs/notes/notes-coldstart.md): the readiness check of each service reads both."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from shared.platform.db.ownership import schema_of


def head_revision(migrations_dir: Path) -> str | None:
    """The revision no other revision of `migrations_dir/versions` revises (alembic's head of a linear chain)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in sorted((migrations_dir / "versions").glob("*.py")):
        names = _module_strings(path)
        if "revision" in names:
            revisions.add(names["revision"])
            if "down_revision" in names:
                revised.add(names["down_revision"])
    heads = sorted(revisions - revised)
    if len(heads) > 1:
        raise ValueError(f"{migrations_dir}: several heads {heads}; the migrations must form one chain")
    return heads[0] if heads else None


def _module_strings(path: Path) -> dict[str, str]:
    """Module-level `name = "text"` assignments of a migration file."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found[node.targets[0].id] = node.value.value
    return found


async def applied_revision(conn: Any, service: str) -> str | None:
    """The revision a service's schema is at (asyncpg connection), None before its first migration."""
    schema = schema_of(service).schema
    if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.alembic_version") is None:
        return None
    value = await conn.fetchval(f"SELECT version_num FROM {schema}.alembic_version LIMIT 1")
    return str(value) if value is not None else None
