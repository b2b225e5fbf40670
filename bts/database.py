"""Which database a command talks to: BTS_DATABASE_URL, else the running `bts up` stack."""

from __future__ import annotations

from bts.console import CliError
from bts.stackfile import read_stack
from shared.platform.db.urls import asyncpg_dsn, role_url
from shared.platform.settings import Settings


def service_database_url(settings: Settings, service: str) -> str:
    if settings.database_url:
        return asyncpg_dsn(settings.database_url)
    stack = read_stack(settings.state_dir)
    if stack is None:
        raise CliError(
            f"no database: the stack is not running (no {settings.state_dir / 'stack.json'}). "
            "Start it with `bts up` in another terminal, or set BTS_DATABASE_URL."
        )
    return asyncpg_dsn(role_url(stack.database_url, service, settings.db_role_password))
