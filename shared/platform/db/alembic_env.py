"""The body of every service's alembic `env.py`: run that service's migrations in its own schema, as its role.

Each service keeps its migrations (and its `alembic_version` table) in its own schema, so services
evolve independently. The migrator connects with the admin URL and `SET ROLE`s to the service's role
so the tables belong to the service.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from shared.platform.db.ownership import schema_of
from shared.platform.db.timeseries import HAS_TIMESCALEDB_SQL
from shared.platform.db.urls import sqlalchemy_url


def _run_sync(connection: Connection, service: str) -> None:
    svc = schema_of(service)
    # A migration's commit need not wait for its WAL flush (53 commits on a new database, ~0.2 s of `bts up`):
    # an OS crash right after may lose the last ones, version row included, and the next start runs them again.
    connection.execute(text("SET synchronous_commit = off"))
    connection.execute(text(f"SET ROLE {svc.role}"))
    connection.execute(text(f"SET search_path = {svc.schema}, public"))
    has_timescaledb = bool(connection.execute(text(HAS_TIMESCALEDB_SQL)).scalar())
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table_schema=svc.schema,
        transaction_per_migration=True,
    )
    # Migrations read it to pick hypertable vs. native partitioning (one capability check).
    context.config.attributes["has_timescaledb"] = has_timescaledb
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str, service: str) -> None:
    engine = create_async_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            # One migrator per schema at a time; released when the session ends.
            await connection.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": f"bts-{service}"})
            await connection.commit()
            await connection.run_sync(_run_sync, service)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations(service: str) -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported; run `bts migrate`")
    url = context.config.attributes.get("database_url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: run migrations with `bts migrate` (BTS_DATABASE_URL)")
    asyncio.run(_run_async(str(url), service))
