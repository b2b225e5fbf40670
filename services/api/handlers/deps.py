"""Dependencies every route shares: a pooled connection and the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from shared.platform.runtime.service import ServiceContext


async def context(request: Request) -> ServiceContext:  # async: a sync dependency costs a thread hop
    ctx: ServiceContext = request.app.state.ctx
    return ctx


async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with (await context(request)).pool.acquire() as conn:
        yield conn  # type: ignore[misc]  # a pool proxy behaves as a Connection


Db = Annotated[asyncpg.Connection, Depends(connection)]
Ctx = Annotated[ServiceContext, Depends(context)]
