"""Start what the environment does not provide: PostgreSQL and Kafka, each embedded when its URL is unset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.devstack.postgres import EmbeddedPostgres
from shared.devstack.tansu import EmbeddedTansu
from shared.platform.settings import Settings


@dataclass(frozen=True)
class Endpoints:
    database_url: str  # admin URL: migrations and role management
    kafka_bootstrap: str
    embedded_postgres: bool
    embedded_kafka: bool


class EmbeddedStack:
    """Context manager: on enter, the database and broker answer; on exit, what it started is stopped."""

    def __init__(self, settings: Settings, state_dir: Path | None = None, template: Path | None = None) -> None:
        """`template`: a prepared cluster a new embedded data directory copies, if it is there
        (shared/devstack/postgres.py)."""
        self.settings = settings
        self.template = template
        self.state_dir = (state_dir or settings.state_dir).resolve()
        self.postgres: EmbeddedPostgres | None = None
        self.tansu: EmbeddedTansu | None = None

    def start(self) -> Endpoints:
        """The broker, then the database; both answer on return."""
        endpoints = self.start_broker()
        self.start_database()
        return endpoints

    def start_broker(self) -> Endpoints:
        """Start the broker (Tansu unless one is configured) and say where the database will be: its URL is known
        before it starts (`bts up` tells its services both at once, and starts the database meanwhile)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        database_url = self.settings.database_url
        kafka_bootstrap = self.settings.kafka_bootstrap
        try:
            if database_url is None:
                self.postgres = EmbeddedPostgres(self.state_dir / "postgres" / "data", template=self.template)
                database_url = self.postgres.planned_url()
            if kafka_bootstrap is None:
                self.tansu = EmbeddedTansu(self.state_dir / "logs", storage=self.settings.tansu_storage)
                kafka_bootstrap = self.tansu.start()
        except BaseException:
            self.stop()
            raise
        return Endpoints(
            database_url=database_url,
            kafka_bootstrap=kafka_bootstrap,
            embedded_postgres=self.postgres is not None,
            embedded_kafka=self.tansu is not None,
        )

    def start_database(self) -> None:
        """Start the embedded database, if there is one (after `start_broker`)."""
        if self.postgres is None:
            return
        try:
            self.postgres.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        # Broker first: services should have stopped already; the database goes last.
        if self.tansu is not None:
            self.tansu.stop()
            self.tansu = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
