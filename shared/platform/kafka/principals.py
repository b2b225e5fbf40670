"""Who may do what on the broker: one SASL principal per service and one for outside producers.

docker-compose.yml creates these users and grants exactly these ACLs (tests/unit/test_deploy_files.py
compares the two); every other principal is refused (no ACL, no access).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shared.contracts import topics
from shared.platform.kafka.dlq import REPLAY_GROUP

ANY: Final = "*"


@dataclass(frozen=True)
class KafkaPrincipal:
    service: str
    user: str = ""
    produces: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    # consumed in a second group, `lifecycle_group(service)`: cancel and delete requests must not wait behind
    # a long message of the service's main consumer (a running backtest)
    lifecycle: tuple[str, ...] = ()
    replays: bool = False  # the gateway's admin-only dead-letter replay writes letters back to their topic
    operator: bool = False  # the gateway's /ops: consumer lag of every group, on every topic

    @property
    def name(self) -> str:
        return self.user or f"bts-{self.service}"

    def acls(self) -> set[tuple[str, str, str]]:
        """(operation, resource type, resource name) this principal is allowed."""
        writes = {*self.produces, *(topics.dlq(t) for t in (*self.consumes, *self.lifecycle))}
        reads = {*self.consumes, *self.lifecycle}
        groups = {f"bts-{self.service}"} if self.consumes else set()
        if self.lifecycle:
            groups.add(lifecycle_group(self.service))
        if self.replays:
            writes |= set(topics.ALL_TOPICS)
            reads |= {topics.dlq(t) for t in topics.ALL_TOPICS}
            groups.add(REPLAY_GROUP)
        granted = {("Write", "topic", t) for t in writes} | {("Read", "topic", t) for t in reads}
        granted |= {("Read", "group", g) for g in groups}
        if self.operator:
            granted |= {("Describe", "topic", ANY), ("Describe", "group", ANY)}
        return granted


def lifecycle_group(service: str) -> str:
    """The consumer group of a service's cancel and delete requests."""
    return f"bts-{service}-lifecycle"


PRINCIPALS: Final = (
    KafkaPrincipal(
        "api",
        produces=(
            topics.BACKTEST_REQUESTED,
            topics.INGEST_REQUESTED,
            topics.SWEEP_COMPLETED,
            topics.BACKTEST_CANCEL_REQUESTED,
            topics.BACKTEST_DELETED,
            topics.SWEEP_DELETED,
            topics.MARKET_DATA_DELETE_REQUESTED,
        ),
        # the read models (services/api/handlers/read_models.py)
        consumes=(
            topics.BACKTEST_REQUESTED,
            topics.BACKTEST_PROGRESS,
            topics.BACKTEST_COMPLETED,
            topics.BACKTEST_FAILED,
            topics.INGEST_PROGRESS,
            topics.BARS_LOADED,
            topics.INGEST_FAILED,
        ),
        replays=True,
        operator=True,
    ),
    KafkaPrincipal(
        "ingest",
        produces=(topics.INGEST_PROGRESS, topics.INGEST_FAILED, topics.BARS_LOADED),
        consumes=(topics.INGEST_REQUESTED,),
        lifecycle=(topics.MARKET_DATA_DELETE_REQUESTED,),
    ),
    KafkaPrincipal(
        "engine",
        produces=(topics.BACKTEST_PROGRESS, topics.BACKTEST_COMPLETED, topics.BACKTEST_FAILED),
        consumes=(topics.BACKTEST_REQUESTED,),
        lifecycle=(topics.BACKTEST_CANCEL_REQUESTED, topics.BACKTEST_DELETED),
    ),
    KafkaPrincipal(
        "reporting",
        produces=(topics.REPORT_GENERATED,),
        consumes=(topics.BACKTEST_COMPLETED, topics.BACKTEST_FAILED, topics.SWEEP_COMPLETED),
        lifecycle=(topics.BACKTEST_DELETED, topics.SWEEP_DELETED),
    ),
    # anyone outside the platform (the README's ten-line producer): requests only, checked by the engine
    KafkaPrincipal("producer", produces=(topics.BACKTEST_REQUESTED,)),
)
