"""`/health` (alive), `/ready` (dependencies answer, migrations applied) and `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaClient
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from shared.platform.db.revisions import applied_revision, head_revision
from shared.platform.kafka.security import client_options

Check = Callable[[], Awaitable[None]]  # raises with a reason when not ready


class ReadyReport(BaseModel):
    ready: bool
    checks: dict[str, str]


def database_check(pool: asyncpg.Pool) -> Check:
    async def check() -> None:
        async with pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1", timeout=2)

    return check


def migrations_check(pool: asyncpg.Pool, service: str, migrations_dir: Path) -> Check:
    head = head_revision(migrations_dir)

    async def check() -> None:
        async with pool.acquire(timeout=2) as conn:
            applied = await applied_revision(conn, service)
        if applied != head:
            raise RuntimeError(f"schema {service} is at {applied or 'no revision'}, code expects {head}")

    return check


def kafka_check(bootstrap: str) -> Check:
    async def check() -> None:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=2000, **client_options())
        try:
            await client.bootstrap()
        finally:
            await client.close()

    return check


def health_router(service: str, checks: dict[str, Check]) -> APIRouter:
    """`checks` may be filled later (at start-up, when the pool exists): it is read on each request."""
    router = APIRouter(tags=["operations"])

    @router.get("/health", summary="Alive")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/ready", summary="Dependencies reachable and migrations applied", response_model=ReadyReport)
    async def ready() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=3)
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready", with its reason
                results[name] = f"failed: {str(exc) or type(exc).__name__}"
        ready = bool(results) and all(v == "ok" for v in results.values())
        report = ReadyReport(ready=ready, checks=results)
        return JSONResponse(report.model_dump(), status_code=200 if report.ready else 503)

    @router.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
