"""Roles, schemas and read-only grants: what must exist around the services' own migrations.

Run with an admin URL (a superuser, or a role allowed to create roles). Idempotent.
"""

from __future__ import annotations

import asyncpg

from shared.platform.db.ownership import SERVICES, ServiceSchema
from shared.platform.db.urls import asyncpg_dsn


async def _enable_timescaledb(conn: asyncpg.Connection) -> bool:
    available = await conn.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
    if not available:
        return False
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except asyncpg.PostgresError:
        # Installed but not preloaded (shared_preload_libraries): use plain partitions.
        return False
    return True


async def _ensure_role(conn: asyncpg.Connection, svc: ServiceSchema, password: str) -> None:
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", svc.role)
    verb = "ALTER" if exists else "CREATE"
    # Role DDL takes no bind parameters; the password is quoted by the server's quote_literal.
    literal = await conn.fetchval("SELECT quote_literal($1)", password)
    await conn.execute(f"{verb} ROLE {svc.role} LOGIN PASSWORD {literal}")
    # The migrator (admin) runs each service's migrations as that role (SET ROLE).
    await conn.execute(f"GRANT {svc.role} TO CURRENT_USER")
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {svc.schema} AUTHORIZATION {svc.role}")
    await conn.execute(f"ALTER ROLE {svc.role} SET search_path = {svc.schema}, public")
    database = await conn.fetchval("SELECT current_database()")
    await conn.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO {svc.role}')


async def bootstrap(admin_url: str, role_password: str) -> bool:
    """Create the extension if possible, every service role and schema. Returns: TimescaleDB in use."""
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        # Serialise concurrent migrators (e.g. two `bts up` against one database).
        await conn.execute("SELECT pg_advisory_lock(hashtext('bts-bootstrap'))")
        has_timescaledb = await _enable_timescaledb(conn)
        for svc in SERVICES.values():
            await _ensure_role(conn, svc, role_password)
        await conn.execute("SELECT pg_advisory_unlock(hashtext('bts-bootstrap'))")
        return has_timescaledb
    finally:
        await conn.close()


async def apply_grants(admin_url: str) -> None:
    """Read-only grants of the ownership table: each reader may SELECT the read views it lists and nothing
    else of another service's schema (a grant no longer listed, e.g. on a table, is revoked). Run after the
    migrations made the views; one transaction, so a running service never sees the grants half applied."""
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        async with conn.transaction():
            for reader in SERVICES.values():
                for owner in SERVICES.values():
                    if owner is not reader:
                        await _revoke_reads(conn, reader, owner)
                for target in reader.reads:
                    schema, _, view = target.partition(".")
                    await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {reader.role}")
                    await conn.execute(f"GRANT SELECT ON {schema}.{view} TO {reader.role}")
    finally:
        await conn.close()


async def _revoke_reads(conn: asyncpg.Connection, reader: ServiceSchema, owner: ServiceSchema) -> None:
    """No read of `owner`'s schema for `reader`: neither its tables and views nor those it makes later."""
    await conn.execute(f"REVOKE SELECT ON ALL TABLES IN SCHEMA {owner.schema} FROM {reader.role}")
    await conn.execute(
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner.role} IN SCHEMA {owner.schema} "
        f"REVOKE SELECT ON TABLES FROM {reader.role}"
    )
