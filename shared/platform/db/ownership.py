"""Who owns which tables and who may read them: the ownership table of docs/architecture.md as data.

Each service owns one schema and logs in with its own role. Reads across a boundary go through views
the owning service defines in its own migrations (`<schema>.v_<table>`: the columns others may read);
a reader is granted SELECT on the views listed here and on nothing else of another schema (applied by
`shared.platform.db.bootstrap.apply_grants`; the queries are in `shared.platform.db.reads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class ServiceSchema:
    service: str
    schema: str
    role: str
    owns: tuple[str, ...]
    reads: tuple[str, ...]  # "schema.view": another service's read view


SERVICE_NAMES: Final = ("api", "ingest", "engine", "reporting")

SERVICES: Final[dict[str, ServiceSchema]] = {
    "api": ServiceSchema(
        service="api",
        schema="api",
        role="bts_api",
        owns=(
            "users",
            "api_keys",
            "instruments",
            "strategies",
            "backtest_configurations",
            "import_jobs",
            "backtest_status",
            "sweeps",
            "sweep_children",
            "corporate_actions",
            "console_sessions",
        ),
        reads=(
            "ingest.v_market_data",
            "ingest.v_market_data_history",
            "ingest.v_market_data_versions",
            "ingest.v_series_adjustment",
            "engine.v_backtest_results",
            "engine.v_trades",
            "engine.v_portfolio_snapshots",
            "reporting.v_performance_reports",
            "reporting.v_sweep_reports",
            # GET /ops/outbox: each service's outbox backlog and parked rows
            "ingest.v_outbox",
            "engine.v_outbox",
            "reporting.v_outbox",
        ),
    ),
    "ingest": ServiceSchema(
        service="ingest",
        schema="ingest",
        role="bts_ingest",
        owns=(
            "market_data",
            "market_data_history",
            "market_data_versions",
            "import_attempts",
            "series_adjustment",
        ),
        # import_jobs: is anyone still waiting for a job's end?
        reads=("api.v_instruments", "api.v_import_jobs", "api.v_corporate_actions"),
    ),
    "engine": ServiceSchema(
        service="engine",
        schema="engine",
        role="bts_engine",
        owns=("backtest_results", "trades", "portfolio_snapshots"),
        # requests from any producer are checked against the user, their strategy and their sweep;
        # backtest_status: is anyone still waiting for a run's end (to announce it again)?
        # corporate actions and the series' adjustment: the engine back-adjusts RAW bars on the fly
        reads=(
            "api.v_instruments",
            "api.v_corporate_actions",
            "ingest.v_market_data",
            "ingest.v_market_data_history",
            "ingest.v_series_adjustment",
            "api.v_users",
            "api.v_strategies",
            "api.v_sweeps",
            "api.v_backtest_status",
        ),
    ),
    "reporting": ServiceSchema(
        service="reporting",
        schema="reporting",
        role="bts_reporting",
        owns=("performance_reports", "sweep_reports", "report_failures"),
        # a sweep report needs the sweep and its children's rows: what users defined, owned by the gateway
        reads=(
            "engine.v_backtest_results",
            "engine.v_trades",
            "engine.v_portfolio_snapshots",
            "api.v_sweeps",
            "api.v_sweep_children",
        ),
    ),
}


def schema_of(service: str) -> ServiceSchema:
    try:
        return SERVICES[service]
    except KeyError:
        raise ValueError(f"unknown service {service!r}; known: {', '.join(SERVICE_NAMES)}") from None
