"""`bts migrate`: roles and schemas, then every service's own migrations, then the read-only grants."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
from pathlib import Path

from shared.platform.db.ownership import SERVICE_NAMES

# What `migrate_all` imports (alembic, SQLAlchemy: ~0.4 s): `bts up` loads them in the background.
MIGRATION_MODULES = ("shared.platform.db.bootstrap", "shared.platform.db.migrate")


def migrations_dir(service: str) -> Path:
    """Where a service keeps its migrations (found without importing the service)."""
    spec = importlib.util.find_spec(f"services.{service}")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"service package services.{service} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


def migrations_digest() -> str:
    """A digest of what the migrations of a new database run: every service's migrations and the code that
    applies them (shared/platform/db). A database migrated by the same digest has the same schemas."""
    import shared.platform.db

    roots = [migrations_dir(service) for service in SERVICE_NAMES]
    roots.append(Path(next(iter(shared.platform.db.__path__))))
    digest = hashlib.sha256()
    for root in roots:
        for source in sorted(root.rglob("*.py")):
            digest.update(f"{source.relative_to(root.parent)}\0".encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def migrated_template_name() -> str:
    """The name of the prepared database template these migrations make (shared/devstack/postgres.py)."""
    return f"migrated-{migrations_digest()}"


def migrate_all(admin_url: str, role_password: str) -> bool:
    """Idempotent; returns whether TimescaleDB is in use. Call outside a running event loop."""
    from shared.platform.db.bootstrap import apply_grants, bootstrap
    from shared.platform.db.migrate import upgrade

    has_timescaledb = asyncio.run(bootstrap(admin_url, role_password))
    for service in SERVICE_NAMES:
        upgrade(migrations_dir(service), admin_url)
    asyncio.run(apply_grants(admin_url))
    return has_timescaledb
