"""Kafka topic names: the only place they are spelled out.

Backtest topics are keyed by user id, `bars.loaded` by instrument id. Every topic has a dead-letter
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
)

# Partitions per topic: backtest.requested bounds how many engine replicas can share the work.
PARTITIONS: Final[dict[str, int]] = {topic: 6 for topic in ALL_TOPICS}
DLQ_PARTITIONS: Final = 1
DLQ_SUFFIX: Final = ".dlq"


def dlq(topic: str) -> str:
    """The dead-letter topic of `topic`."""
    return topic + DLQ_SUFFIX
