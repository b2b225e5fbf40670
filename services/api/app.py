"""The REST gateway (FastAPI): the front door for people and programs.

Wiring only: routes come from `handlers`, the database from `repository`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.runtime.service import Component, ServiceContext, create_service_app, serve
from shared.settings import Settings

SERVICE = "api"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


async def build_components(ctx: ServiceContext) -> list[Component]:
    return []


def create_app(settings: Settings) -> FastAPI:
    gateway = FastAPI(
        title="bts gateway",
        version="0.1.0",
        description="Backtesting platform on NautilusTrader: strategies, instruments, market data, backtests.",
        docs_url="/docs",
    )
    return create_service_app(SERVICE, MIGRATIONS_DIR, settings, build_components, app=gateway)


def main() -> None:
    settings = Settings()
    serve(create_app(settings), SERVICE, settings, port=settings.api_port)
