"""Kafka topic names: the only place they are spelled out.

Backtest topics are keyed by user id (a sweep's `backtest.requested` children by one key per
partition, see services/api/domain/sweep_queue.py), `bars.loaded` by instrument id, `sweep.completed` by
user id. Every topic has a dead-letter
twin `<topic>.dlq` for messages a consumer could not handle.
"""

from typing import Final

INGEST_REQUESTED: Final = "ingest.requested"
INGEST_PROGRESS: Final = "ingest.progress"
INGEST_FAILED: Final = "ingest.failed"
BARS_LOADED: Final = "bars.loaded"
BACKTEST_REQUESTED: Final = "backtest.requested"
BACKTEST_PROGRESS: Final = "backtest.progress"
BACKTEST_COMPLETED: Final = "backtest.completed"
BACKTEST_FAILED: Final = "backtest.failed"
REPORT_GENERATED: Final = "report.generated"
SWEEP_COMPLETED: Final = "sweep.completed"
# lifecycle: the gateway asks the services that own a backtest's rows to stop or remove them
BACKTEST_CANCEL_REQUESTED: Final = "backtest.cancel_requested"
BACKTEST_DELETED: Final = "backtest.deleted"
SWEEP_DELETED: Final = "sweep.deleted"
MARKET_DATA_DELETE_REQUESTED: Final = "market_data.delete_requested"

ALL_TOPICS: Final[tuple[str, ...]] = (
    INGEST_REQUESTED,
    INGEST_PROGRESS,
    INGEST_FAILED,
    BARS_LOADED,
    BACKTEST_REQUESTED,
    BACKTEST_PROGRESS,
    BACKTEST_COMPLETED,
    BACKTEST_FAILED,
    REPORT_GENERATED,
    SWEEP_COMPLETED,
    BACKTEST_CANCEL_REQUESTED,
    BACKTEST_DELETED,
    SWEEP_DELETED,
    MARKET_DATA_DELETE_REQUESTED,
)

# Partitions per topic: backtest.requested bounds how many engine replicas can share the work.
PARTITIONS: Final[dict[str, int]] = {topic: 6 for topic in ALL_TOPICS}
DLQ_PARTITIONS: Final = 1
DLQ_SUFFIX: Final = ".dlq"


def dlq(topic: str) -> str:
    """The dead-letter topic of `topic`."""
    return topic + DLQ_SUFFIX
