"""One way to build and serve every service: an ASGI app whose lifespan runs the service's components.

A worker is a FastAPI app with only the operations routes; its real work (consumers, outbox relay)
runs as components started and stopped by the lifespan, so uvicorn's signal handling gives every
service the same graceful shutdown on SIGTERM / Ctrl-C.

Start order: what joins a consumer group (a component marked `joins_group`, and the app's own lifespan, e.g.
the gateway's FastStream broker) starts at once, since a join takes seconds on Tansu (half the session
timeout); the other components wait for the schemas (under `bts up`: its word that they are migrated,
shared/platform/runtime/gate.py) and start in order meanwhile. Consumers hold what they fetch until every
component has started (`ServiceContext.started`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import structlog
import uvicorn
from fastapi import FastAPI

from shared.platform.db.urls import asyncpg_dsn
from shared.platform.runtime.gate import schemas_migrated
from shared.platform.runtime.health import Check, database_check, health_router, kafka_check, migrations_check
from shared.platform.runtime.logging import configure_logging
from shared.platform.runtime.server import QuietServer
from shared.platform.settings import Settings

log = structlog.get_logger()


class Component(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class ServiceContext:
    name: str
    settings: Settings
    pool: asyncpg.Pool
    kafka_bootstrap: str
    components: list[Component] = field(default_factory=list)
    # Set by the lifespan once every component has started: what a consumer fetched before waits for it.
    started: asyncio.Event = field(default_factory=asyncio.Event)


ComponentFactory = Callable[[ServiceContext], Awaitable[list[Component]]]


def required(value: str | None, variable: str) -> str:
    if not value:
        raise SystemExit(f"{variable} is not set: start services with `bts up`, or set it to a real URL")
    return value


def create_service_app(
    name: str,
    migrations_dir: Path,
    settings: Settings,
    components: ComponentFactory | None = None,
    app: FastAPI | None = None,
) -> FastAPI:
    """Wrap `app` (or a bare one) with the operations routes and a lifespan that runs `components`."""
    database_url = asyncpg_dsn(required(settings.database_url, "BTS_DATABASE_URL"))
    kafka_bootstrap = required(settings.kafka_bootstrap, "BTS_KAFKA_BOOTSTRAP")
    checks: dict[str, Check] = {}  # filled once the pool exists; /ready reads it per request

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # min_size=0: start even while the database is down; /ready says so until it is back.
        pool = await asyncpg.create_pool(database_url, min_size=0, max_size=10)
        ctx = ServiceContext(name=name, settings=settings, pool=pool, kafka_bootstrap=kafka_bootstrap)
        target.state.ctx = ctx
        checks.update(
            database=database_check(pool),
            kafka=kafka_check(kafka_bootstrap),
            migrations=migrations_check(pool, name, migrations_dir),
        )
        app_lifespan = inner(target)  # the app's own lifespan (e.g. FastStream's broker), inside ours
        try:
            if components is not None:
                ctx.components = await components(ctx)
            await start_components(ctx.components, app_lifespan)
            ctx.started.set()
            log.info("service started", components=[type(c).__name__ for c in ctx.components])
            try:
                yield
            finally:
                await app_lifespan.__aexit__(None, None, None)
        finally:
            for component in reversed(ctx.components):
                try:
                    await component.stop()
                except Exception:
                    log.exception("component failed to stop", component=type(component).__name__)
            await pool.close()
            log.info("service stopped")

    target = app or FastAPI(title=f"bts {name}", docs_url=None, redoc_url=None)
    target.include_router(health_router(name, checks))
    inner = target.router.lifespan_context
    target.router.lifespan_context = lifespan
    return target


async def start_components(
    components: list[Component], app_lifespan: contextlib.AbstractAsyncContextManager[Any]
) -> None:
    """Start `components` in order and enter `app_lifespan`; what joins a consumer group starts at once, the rest
    once the schemas are migrated (see the module's docstring). A component listed after a group starts once
    the group has joined. If a start fails, the joins under way are cancelled and the app's lifespan is left."""
    joining = {id(c): asyncio.ensure_future(c.start()) for c in components if getattr(c, "joins_group", False)}
    app = asyncio.ensure_future(app_lifespan.__aenter__())
    try:
        await schemas_migrated()
        for component in components:
            await (joining[id(component)] if id(component) in joining else component.start())
        await app
    except BaseException:
        for task in [*joining.values(), app]:
            task.cancel()
        await asyncio.gather(*joining.values(), app, return_exceptions=True)
        if not app.cancelled() and app.exception() is None:
            await app_lifespan.__aexit__(None, None, None)
        raise


def serve(app: FastAPI, name: str, settings: Settings, port: int) -> None:
    configure_logging(name, settings.log_level)
    config = uvicorn.Config(app, host=settings.bind_host, port=port, log_config=None, access_log=False, lifespan="on")
    # Under `bts up` the socket is bound already (bts/up.py): the port cannot be taken between pick and bind.
    sockets = None if settings.listen_fd is None else [socket.socket(fileno=settings.listen_fd)]
    QuietServer(config).run(sockets=sockets)  # wakes once a second while idle, not ten times


def run_worker(name: str, migrations_dir: Path, components: ComponentFactory | None = None) -> None:
    """Entry point of a worker service (`python -m services.<name>`)."""
    settings = Settings()
    app = create_service_app(name, migrations_dir, settings, components)
    serve(app, name, settings, port=settings.service_port or 8080)
