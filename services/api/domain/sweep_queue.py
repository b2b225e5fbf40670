"""How a sweep's children reach the engines (pure): keys, how many at once, and the ETA.

The rule (docs/research.md):

- Interactive backtests are keyed by user id: one partition per user, so one user's runs go one at a
  time, in order (the data model's "single backtest at a time per user").
- A sweep's children are keyed by the sweep: it has one key per partition of backtest.requested
  (`<sweep id>:<salt>`, salts chosen so that the keys hash onto every partition, see
  `shared.platform.kafka.partitioning`), so every engine replica gets a share.
- A sweep never floods the topic: at most `sweep_queue_per_partition` (default 2) of its children are
  queued or running per partition. Each finished child releases the next one, on the same key. So an
  interactive run waits behind at most two children of each active sweep in its partition, whatever
  the sweep's size; and a replica that finishes sooner is handed more (a freed key gets the next child).
"""

from __future__ import annotations

from datetime import datetime


def first_release(queued: int, partitions: int, per_partition: int) -> int:
    """How many children go out when the sweep is accepted."""
    return min(queued, partitions * per_partition)


def estimated_completion(started_at: datetime | None, now: datetime, done: int, remaining: int) -> datetime | None:
    """From the pace so far; None before the first child finished or once nothing remains."""
    if started_at is None or done <= 0 or remaining <= 0:
        return None
    per_child = (now - started_at) / done
    return now + per_child * remaining


def progress_pct(done: int, total: int) -> float:
    return 100.0 if total <= 0 else round(100.0 * done / total, 2)
