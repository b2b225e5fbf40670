"""Prometheus metrics every service exports (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_CONSUMED = Counter("bts_messages_consumed_total", "Kafka messages consumed", ["service", "topic"])
MESSAGES_FAILED = Counter("bts_messages_failed_total", "Kafka messages dead-lettered", ["service", "topic"])
HANDLER_SECONDS = Histogram(
    "bts_handler_seconds",
    "Time spent handling one message",
    ["service", "topic", "outcome"],
    buckets=(0.005, 0.02, 0.1, 0.5, 1, 2, 5, 15, 60, 300),
)
OUTBOX_BACKLOG = Gauge("bts_outbox_backlog", "Outbox rows waiting to be published", ["service"])
OUTBOX_PARKED = Gauge("bts_outbox_parked_rows", "Outbox rows parked: refused by the broker for good", ["service"])
OUTBOX_PARKED_TOTAL = Counter("bts_outbox_parked_total", "Outbox rows this process parked", ["service"])
BACKTESTS = Counter("bts_backtests_total", "Backtests finished, by status", ["status"])
BACKTESTS_RUNNING = Gauge("bts_backtests_running", "Backtests running in this process")
BACKTEST_INPUTS = Counter(
    "bts_backtest_inputs_total",
    "Backtests' inputs, by how they were had: read from the database, or reused from an earlier run's",
    ["source"],
)
BARS_INGESTED = Counter("bts_bars_ingested_total", "Bars written to market_data", ["timeframe"])
EVENTS_IGNORED = Counter(
    "bts_events_ignored_total",
    "Events ignored because the owner's table contradicts them (forged, or about something unknown)",
    ["service", "topic", "reason"],
)
REQUESTS_REFUSED = Counter(
    "bts_backtest_requests_refused_total", "backtest.requested the engine refused (FAILED with the reasons)"
)
JOBS_REQUESTED_AGAIN = Counter(
    "bts_jobs_requested_again_total", "Stale jobs the gateway's reconciler requested again", ["kind"]
)
REPORT_FAILURES = Counter("bts_report_failures_total", "Failed attempts at a result's reports (reconciler, give-up)")
