"""Who owns which tables and who may read them: the ownership table of docs/architecture.md as data.

Each service owns one schema and logs in with its own role; reads across a boundary go through
the read-only grants listed here (applied by `shared.db.bootstrap.apply_grants`).
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
    reads: tuple[str, ...]  # "schema.table", or "schema.*" for every table of a schema


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
        reads=("ingest.*", "engine.*", "reporting.*"),
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
        reads=("api.instruments", "api.import_jobs", "api.corporate_actions"),
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
            "api.instruments",
            "api.corporate_actions",
            "ingest.market_data",
            "ingest.market_data_history",
            "ingest.series_adjustment",
            "api.users",
            "api.strategies",
            "api.sweeps",
            "api.backtest_status",
        ),
    ),
    "reporting": ServiceSchema(
        service="reporting",
        schema="reporting",
        role="bts_reporting",
        owns=("performance_reports", "sweep_reports", "report_failures"),
        # a sweep report needs the sweep and its children's rows: what users defined, owned by the gateway
        reads=(
            "engine.backtest_results",
            "engine.trades",
            "engine.portfolio_snapshots",
            "api.sweeps",
            "api.sweep_children",
        ),
    ),
}


def schema_of(service: str) -> ServiceSchema:
    try:
        return SERVICES[service]
    except KeyError:
        raise ValueError(f"unknown service {service!r}; known: {', '.join(SERVICE_NAMES)}") from None
