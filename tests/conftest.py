"""Session fixtures: the embedded PostgreSQL and Kafka broker, or the external ones the BTS_* URLs name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.devstack.stack import EmbeddedStack, Endpoints
from shared.platform.db.urls import asyncpg_dsn, role_url
from shared.platform.settings import Settings


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bts-state")


@pytest.fixture(scope="session")
def endpoints(state_dir: Path) -> Iterator[Endpoints]:
    """Admin database URL + Kafka bootstrap; embedded parts start here unless BTS_* URLs are set."""
    with EmbeddedStack(Settings(state_dir=state_dir)) as started:
        yield started


@pytest.fixture(scope="session")
def migrated(endpoints: Endpoints) -> Endpoints:
    """The database with every role, schema, migration and grant in place."""
    from bts.migrations import migrate_all

    migrate_all(endpoints.database_url, ROLE_PASSWORD)
    return endpoints


ROLE_PASSWORD = "bts"


@pytest.fixture
async def admin_conn(migrated: Endpoints) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(migrated.database_url))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def connect_as(migrated: Endpoints) -> Callable[[str], Awaitable[asyncpg.Connection]]:
    """Open a connection as a service's own role (the caller closes it)."""

    async def connect(service: str) -> asyncpg.Connection:
        return await asyncpg.connect(asyncpg_dsn(role_url(migrated.database_url, service, ROLE_PASSWORD)))

    return connect
