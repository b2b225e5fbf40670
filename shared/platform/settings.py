"""Settings from the environment (prefix BTS_). An unset URL means: start the embedded part."""

import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.platform.gateway_access import DEFAULT_API_URL, ENV_PREFIX


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. For migrations an admin URL; for a service, its own role's URL.",
    )
    kafka_bootstrap: str | None = Field(default=None, description="host:port[,host:port] of Kafka")
    tansu_storage: str = Field(
        default="memory://tansu/",
        description="storage of the embedded broker: memory:// (lost on restart) or s3://BUCKET/ (AWS_* variables)",
    )
    state_dir: Path = Field(default=Path(".bts"), description="embedded data, uploads, reports, ports")
    api_url: str = DEFAULT_API_URL
    api_key: str | None = None
    ib_host: str = "127.0.0.1"
    ib_port: int = 7497
    ib_client_id: int = 1
    db_role_password: str = Field(
        default="bts", description="password of the per-service login roles created by `bts migrate`"
    )
    service_port: int | None = Field(default=None, description="health/metrics port of a worker service")
    listen_fd: int | None = Field(
        default=None, description="a listening socket inherited from `bts up` (its descriptor), served instead"
    )
    bind_host: str = Field(default="127.0.0.1", description="interface services listen on (0.0.0.0 in containers)")
    service_launcher: bool = Field(
        default=sys.platform == "linux",
        description="`bts up` forks the services from a launcher that imported their libraries once (Linux); "
        "false: each starts as a process of its own and imports everything (a restart then loads changed code)",
    )
    log_level: str = "INFO"
    git_commit: str | None = Field(
        default=None, description="commit the code was built from (set at image build time); run manifests record it"
    )
    max_upload_bytes: int = Field(default=2 * 1024**3, description="largest CSV upload the gateway accepts")
    max_request_bytes: int = Field(default=1024**2, description="largest request body other than an upload")
    upload_grace_s: float = Field(
        default=3600.0, ge=0, description="an upload is deleted this long after its import job ended (0: at once)"
    )
    upload_quota_bytes: int = Field(
        default=1024**3, ge=0, description="bytes of one user's uploads still on disk; past it an upload gets 413"
    )
    upload_sweep_every_s: float = Field(
        default=60.0, gt=0, description="how often the gateway deletes uploads past their grace and orphaned files"
    )
    # Retention (docs/data-model.md): each owning service runs its job every retention_every_s.
    retention_every_s: float = Field(default=3600.0, gt=0, description="how often the retention jobs run")
    market_data_retention_years: int = Field(
        default=5, ge=1, description="rolling window of market data; never cuts into the backtestable range"
    )
    result_retention_days: int = Field(default=365, ge=1, description="backtest results (trades, snapshots)")
    report_retention_days: int = Field(default=90, ge=1, description="performance reports, row and file")
    sweep_max_runs: int = Field(default=10_000, ge=1, description="most backtests one sweep may expand to")
    sweep_queue_per_partition: int = Field(
        default=2, ge=1, description="a sweep's children queued at once per partition of backtest.requested"
    )
    # Gateway: failed authentication per client (IP) and Server-Sent Event streams.
    auth_failures_max: int = Field(
        default=20, ge=1, description="wrong API keys one client may send within the window before it gets 429"
    )
    auth_failures_window_s: float = Field(default=60.0, gt=0, description="window of auth_failures_max, seconds")
    sse_idle_s: float = Field(
        default=300.0, gt=0, description="an event stream with no news for this long is closed (the client reconnects)"
    )
    sse_keepalive_s: float = Field(
        default=15.0,
        gt=0,
        description="a comment line on a quiet event stream this often keeps proxies from cutting it",
    )
    # Every job ends: each owner reconciles on start and every reconcile_every_s (see docs/reliability.md).
    reconcile_every_s: float = Field(default=10.0, gt=0, description="how often each owner reconciles its jobs")
    reconcile_stale_after_s: float = Field(
        default=20.0,
        gt=0,
        description="a job not terminal and without progress for this long is requested again (then after "
        "twice as long, and so on, up to 16 times this)",
    )
    max_takeovers: int = Field(
        default=3, ge=0, description="times a run whose replica died is taken over before it is FAILED"
    )
    report_max_attempts: int = Field(
        default=3, ge=1, description="times reporting tries a result's reports before it records them as failed"
    )
    # `bts up` as a supervisor: a crashed service is restarted with backoff, unless it crashes too often.
    supervisor_max_crashes: int = Field(
        default=5, ge=1, description="crashes of one service within supervisor_window_s that stop the stack"
    )
    supervisor_window_s: float = Field(default=60.0, gt=0, description="window the crashes are counted in")
    supervisor_backoff_s: float = Field(
        default=0.5, gt=0, description="wait before the first restart; doubles with each crash in the window"
    )
    # Consumer tuning: defaults that join quickly on Tansu and stay valid on Apache Kafka
    # (whose group.min.session.timeout.ms is 6000).
    kafka_session_timeout_ms: int = 6000
    # A third of the session timeout (Kafka's advice): half the heartbeats of an idle stack of 1 s.
    kafka_heartbeat_interval_ms: int = 2000
    # How long an empty fetch of an active consumer waits for data. Apache Kafka answers as soon as data arrives;
    # Tansu always waits it out, so about half of it is added to each hop. Idle consumers pause (below), so it
    # only paces active ones: at 40 ms instead of 100 a POST -> RUNNING took 71 ms instead of 112-123 ms and the
    # 200-combination sweep 49.0 s instead of 47.7 s (docs/benchmarks.md). At 20 ms, before consumers paused
    # when idle, their polling cost about a sixth of a core.
    kafka_fetch_max_wait_ms: int = Field(default=40, ge=1, le=1000)
    # Idle consumers send no fetches: they pause after this long without a message and wake on a NOTIFY from
    # the publisher (shared.platform.kafka.wakeup), or look anyway every kafka_idle_poll_s: what producers that do
    # not notify (another platform's backtest requests, a DLQ replay) publish waits up to that long. At 2 s
    # instead of 5 an idle stack used 1.68% of a core instead of 1.12% (docs/benchmarks.md).
    kafka_idle_after_s: float = Field(default=0.2, gt=0, description="quiet seconds before a consumer pauses")
    kafka_idle_poll_s: float = Field(default=2.0, gt=0, description="a paused consumer looks anyway this often")
    # Authentication to Kafka (docker-compose.yml: one SCRAM principal per service). Unset username: plaintext
    # without authentication, as the embedded Tansu of `bts up` expects.
    kafka_sasl_username: str | None = Field(default=None, description="SASL principal; unset = no authentication")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="its password")
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="SASL_PLAINTEXT", description="SASL_SSL when the broker is reached over an untrusted network"
    )

    @field_validator(
        "database_url",
        "kafka_bootstrap",
        "api_key",
        "git_commit",
        "kafka_sasl_username",
        "kafka_sasl_password",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _sasl_pair(self) -> Self:
        if (self.kafka_sasl_username is None) != (self.kafka_sasl_password is None):
            raise ValueError("BTS_KAFKA_SASL_USERNAME and BTS_KAFKA_SASL_PASSWORD are set together or not at all")
        return self

    @property
    def uploads_dir(self) -> Path:
        """Where the gateway stores uploads and ingest reads them (the claim check's folder)."""
        return (self.state_dir / "uploads").resolve()

    @property
    def api_port(self) -> int:
        return urlsplit(self.api_url).port or 8000

    @property
    def api_host(self) -> str:
        return urlsplit(self.api_url).hostname or "127.0.0.1"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
