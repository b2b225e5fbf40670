"""Session fixtures: the embedded PostgreSQL and Kafka broker, or the external ones the BTS_* URLs name."""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.devstack.stack import EmbeddedStack, Endpoints
from shared.platform.db.urls import asyncpg_dsn, role_url
from shared.platform.settings import Settings

# pytest-timeout interrupts a stuck test with SIGALRM, once. A hang that signal cannot end (C code that
# ignores it, or a teardown that blocks after the test was failed) would stall the whole run until CI
# kills it, with nothing printed. So every test also has a watchdog outside Python: this long after the
# timeout it prints every thread's stack and ends the worker; pytest-xdist reports the test as crashed
# (`make test` stops there: --max-worker-restart=0). pytest's own faulthandler plugin is off: it cancels
# its timer as soon as a test fails, which is when a teardown hang begins.
WATCHDOG_AFTER_TIMEOUT_S = 90
_stderr_copy = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    assert sys.__stderr__ is not None
    config.stash[_stderr_copy] = os.dup(sys.__stderr__.fileno())
    faulthandler.enable(file=config.stash[_stderr_copy])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    marker = item.get_closest_marker("timeout")
    timeout = float(marker.args[0] if marker and marker.args else item.config.getini("timeout") or 0)
    if timeout <= 0:
        return (yield)
    faulthandler.dump_traceback_later(
        timeout + WATCHDOG_AFTER_TIMEOUT_S, file=item.config.stash[_stderr_copy], exit=True
    )
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()


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
