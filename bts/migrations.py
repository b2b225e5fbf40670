"""`bts migrate`: roles and schemas, then every service's own migrations, then the read-only grants."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

from shared.platform.db.bootstrap import apply_grants, bootstrap
from shared.platform.db.migrate import upgrade
from shared.platform.db.ownership import SERVICE_NAMES


def migrations_dir(service: str) -> Path:
    """Where a service keeps its migrations (found without importing the service)."""
    spec = importlib.util.find_spec(f"services.{service}")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"service package services.{service} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


def migrate_all(admin_url: str, role_password: str) -> bool:
    """Idempotent; returns whether TimescaleDB is in use. Call outside a running event loop."""
    has_timescaledb = asyncio.run(bootstrap(admin_url, role_password))
    for service in SERVICE_NAMES:
        upgrade(migrations_dir(service), admin_url)
    asyncio.run(apply_grants(admin_url))
    return has_timescaledb
