"""Prometheus metrics every service exports (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_CONSUMED = Counter("bts_messages_consumed_total", "Kafka messages consumed", ["service", "topic"])
MESSAGES_FAILED = Counter("bts_messages_failed_total", "Kafka messages dead-lettered", ["service", "topic"])
HANDLER_SECONDS = Histogram(
    "bts_handler_seconds", "Time spent handling one message", ["service", "topic", "outcome"],
    buckets=(0.005, 0.02, 0.1, 0.5, 1, 2, 5, 15, 60, 300),
)  # fmt: skip
OUTBOX_BACKLOG = Gauge("bts_outbox_backlog", "Outbox rows not yet published", ["service"])
BACKTESTS = Counter("bts_backtests_total", "Backtests finished, by status", ["status"])
BACKTESTS_RUNNING = Gauge("bts_backtests_running", "Backtests running in this process")
BARS_INGESTED = Counter("bts_bars_ingested_total", "Bars written to market_data", ["timeframe"])
JOBS_REQUESTED_AGAIN = Counter(
    "bts_jobs_requested_again_total", "Stale jobs the gateway's reconciler requested again", ["kind"]
)
REPORT_FAILURES = Counter("bts_report_failures_total", "Failed attempts at a result's reports (reconciler, give-up)")
