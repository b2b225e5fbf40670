"""Engine service: backtest.requested -> NautilusTrader run -> results, trades, snapshots, backtest.completed.

Wiring only: what runs in this process and with which settings. Replicas share one consumer group;
backtest.requested is keyed by user, so one user's backtests run one at a time, in order.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.engine.handlers import BacktestHandler
from services.engine.lifecycle import LifecycleHandler
from services.engine.retention import ResultRetention
from services.engine.warmup import warm_up
from shared.contracts import topics
from shared.contracts.raw_requests import parse_request
from shared.platform.kafka.consumer import GiveUp
from shared.platform.kafka.principals import lifecycle_group
from shared.platform.kafka.producer import EventPublisher
from shared.platform.runtime.messaging import consumer, messaging
from shared.platform.runtime.service import Component, ServiceContext, run_worker
from shared.platform.runtime.warmup import WarmUp

SERVICE = "engine"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


async def build_components(ctx: ServiceContext) -> list[Component]:
    publisher = EventPublisher(ctx.kafka_bootstrap)
    # requests that break the model's rules but name their backtest and user are FAILED with the reasons
    handler = BacktestHandler(ctx, publisher)
    give_up: dict[str, GiveUp] = {topics.BACKTEST_REQUESTED: handler.give_up}
    requests = consumer(ctx, publisher, [topics.BACKTEST_REQUESTED], handler, parse=parse_request, on_give_up=give_up)
    # cancel and delete requests in a group of their own: they must not wait behind a running backtest
    lifecycle_topics = [topics.BACKTEST_CANCEL_REQUESTED, topics.BACKTEST_DELETED]
    lifecycle = consumer(ctx, publisher, lifecycle_topics, LifecycleHandler(ctx.pool), group=lifecycle_group(SERVICE))
    settings = ctx.settings
    retention = ResultRetention(ctx.pool, timedelta(days=settings.result_retention_days), settings.retention_every_s)
    # first: it runs while the consumers join their groups, so the first backtest costs what a warm one does
    warm = WarmUp(lambda: warm_up(ctx.pool))
    return [warm, *messaging(ctx, publisher, [requests, lifecycle]), retention]


def main() -> None:
    run_worker(SERVICE, MIGRATIONS_DIR, build_components)
