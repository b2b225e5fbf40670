"""The REST gateway (FastAPI): the front door for people and programs.

Wiring only. Routes come from `handlers`; writes that must reach Kafka go through the transactional
outbox (relayed by the shared publisher); the read models are fed by a FastStream KafkaRouter
subscriber that hands each record to the shared processor (inbox, retries, dead letters). The same
router documents every topic and payload at /asyncapi.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from faststream.kafka.fastapi import KafkaMessage, KafkaRouter

from services.api import problems, ui
from services.api.auth import RevokedKeys, auth_failures_for
from services.api.body_limit import BodyLimitMiddleware
from services.api.correlation import CorrelationMiddleware
from services.api.finished import FinishedReadsFastPath
from services.api.handlers import (
    backtests,
    comparisons,
    corporate_actions,
    instruments,
    keys,
    lifecycle,
    market_data,
    market_data_versions,
    ops,
    reports,
    reproducibility,
    sharing,
    strategies,
    strategy_types,
    sweeps,
)
from services.api.handlers.read_models import READ_MODEL_TOPICS, apply_event
from services.api.reconcile import Reconciler
from services.api.strict_json import StrictJsonMiddleware
from services.api.text_params import refuse_nul_parameters
from services.api.uploads import UploadPolicy, UploadSweep, deleting_ended_uploads
from shared.contracts import topics
from shared.contracts.events import TOPIC_PAYLOADS, Envelope
from shared.contracts.raw_requests import parse_request
from shared.platform.kafka.consumer import MessageProcessor, handle_record, subscriber_options
from shared.platform.kafka.inbox import idempotent
from shared.platform.kafka.producer import EventPublisher
from shared.platform.kafka.security import faststream_security
from shared.platform.runtime.messaging import idle_pause, in_service, messaging
from shared.platform.runtime.schedule import PeriodicJob
from shared.platform.runtime.service import Component, ServiceContext, create_service_app, required, serve
from shared.platform.settings import Settings

SERVICE = "api"
GROUP = "bts-api"
# Not on the way to ready, but soon needed on the event loop: the strategy SDK and numpy (the first lookup of a
# strategy type loads the plugins, which import them; the pre-screen, the coverage gaps): preloaded after start.
DEFERRED_MODULES = ("bts_sdk", "shared.domain.quality")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
PRODUCERS = {
    topics.INGEST_REQUESTED: "api",
    topics.BACKTEST_REQUESTED: "api or any outside producer",
    topics.INGEST_PROGRESS: "ingest",
    topics.INGEST_FAILED: "ingest",
    topics.BARS_LOADED: "ingest",
    topics.BACKTEST_PROGRESS: "engine",
    topics.BACKTEST_COMPLETED: "engine",
    topics.BACKTEST_FAILED: "engine",
    topics.REPORT_GENERATED: "reporting",
    topics.SWEEP_COMPLETED: "api",
}


def kafka_router(settings: Settings, gateway: FastAPI) -> KafkaRouter:
    kafka = KafkaRouter(
        required(settings.kafka_bootstrap, "BTS_KAFKA_BOOTSTRAP"),
        security=faststream_security(settings),
        schema_url="/asyncapi",
        logger=logging.getLogger("bts.kafka"),  # through the root handler: JSON lines like every other
        description="Every topic of the platform and its CloudEvents-style envelope; JSON, keyed as documented.",
    )

    reads = kafka.subscriber(  # type: ignore[call-overload]
        *READ_MODEL_TOPICS,
        description="the gateway's read models (backtest status, import jobs)",
        **subscriber_options(settings, GROUP),
    )
    gateway.state.read_models_subscriber = reads  # its aiokafka consumer is paused while idle

    @reads  # type: ignore[untyped-decorator,misc]
    async def read_models(message: KafkaMessage) -> None:
        await handle_record(gateway.state.read_models, message.raw_message, message.consumer)

    for topic, payload in TOPIC_PAYLOADS.items():  # the contract for producers and consumers outside the platform
        kafka.publisher(
            topic,
            schema=Envelope[payload],  # type: ignore[valid-type]
            description=f"produced by {PRODUCERS.get(topic, '?')}; dead letters on {topics.dlq(topic)}",
        )
    return kafka


def create_app(settings: Settings) -> FastAPI:
    gateway = FastAPI(
        title="bts gateway",
        version="0.1.0",
        description=(
            "Backtesting platform on NautilusTrader: strategies, instruments, market data, backtests and reports. "
            "Authenticate with `Authorization: Bearer <api key>` (`bts user create NAME`). Errors are "
            "application/problem+json (RFC 9457) with field-level details. Kafka contract: /asyncapi."
        ),
        docs_url="/docs",
    )
    problems.install(gateway)
    gateway.state.auth_failures = auth_failures_for(settings)
    problems.document(gateway)
    gateway.add_middleware(StrictJsonMiddleware)  # inside the body limit: it reads a bounded body whole
    gateway.add_middleware(
        BodyLimitMiddleware,
        upload_paths=frozenset({"/api/v1/market-data/import", "/api/v1/backtests/import"}) | ui.UPLOAD_PATHS,
        upload_limit=settings.max_upload_bytes,
        other_limit=settings.max_request_bytes,
    )
    gateway.add_middleware(FinishedReadsFastPath)  # finished backtests read again: answered from memory
    gateway.add_middleware(CorrelationMiddleware)  # outermost: its log line and header cover every answer
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(refuse_nul_parameters)])
    # comparisons before backtests: /backtests/compare must not be read as /backtests/{backtest_id}
    # market_data_versions before market_data: /market-data/coverage is not /market-data/{instrument_id}
    data_routers = [strategy_types, strategies, instruments, corporate_actions, market_data_versions, market_data]
    # sharing before backtests: POST /backtests/import is no backtest id
    routers = [*data_routers, comparisons, sharing, backtests, reproducibility, sweeps, lifecycle, reports, ops, keys]
    for module in routers:
        api.include_router(module.router)
    gateway.include_router(api)
    gateway.include_router(ui.router)  # the web console at /ui (docs/console.md)
    gateway.include_router(kafka_router(settings, gateway))

    uploads = UploadPolicy.of(settings)

    async def components(ctx: ServiceContext) -> list[Component]:
        publisher = EventPublisher(ctx.kafka_bootstrap)
        read_models = deleting_ended_uploads(apply_event, uploads)
        gateway.state.read_models = in_service(
            ctx,
            # a request that breaks the model's rules is the engine's to FAIL (then its backtest.failed comes)
            MessageProcessor(GROUP, idempotent(ctx.pool, "api", GROUP, read_models), publisher, parse=parse_request),
        )
        revoked = RevokedKeys(required(settings.database_url, "BTS_DATABASE_URL"))
        upload_sweep = UploadSweep(ctx.pool, uploads, settings.upload_sweep_every_s)
        requeue = Reconciler(ctx.pool, settings.reconcile_stale_after_s)
        reconciler = PeriodicJob("reconcile", requeue, every_s=settings.reconcile_every_s)
        subscriber = gateway.state.read_models_subscriber
        pause = idle_pause(
            ctx, list(READ_MODEL_TOPICS), lambda: getattr(subscriber, "consumer", None), gateway.state.read_models
        )
        return [*messaging(ctx, publisher, []), pause, revoked, upload_sweep, reconciler]

    return create_service_app(SERVICE, MIGRATIONS_DIR, settings, components, app=gateway)


def main() -> None:
    settings = Settings()
    serve(create_app(settings), SERVICE, settings, port=settings.api_port)
