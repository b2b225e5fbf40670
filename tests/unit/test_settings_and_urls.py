from __future__ import annotations

import pytest

from shared.platform.db.ownership import SERVICES, schema_of
from shared.platform.db.timeseries import TIME_SERIES, create_time_series_table_sql
from shared.platform.db.urls import asyncpg_dsn, redact, role_url, sqlalchemy_url
from shared.platform.settings import Settings


def test_unset_urls_mean_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTS_DATABASE_URL", "")
    monkeypatch.delenv("BTS_KAFKA_BOOTSTRAP", raising=False)
    settings = Settings()
    assert settings.database_url is None
    assert settings.kafka_bootstrap is None


def test_api_port_follows_api_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTS_API_URL", "http://127.0.0.1:9123")
    assert Settings().api_port == 9123


def test_role_url_swaps_only_the_credentials() -> None:
    url = role_url("postgresql://admin:secret@db.local:5433/bts?sslmode=require", "engine", "p@ss/word")
    assert url == "postgresql://bts_engine:p%40ss%2Fword@db.local:5433/bts?sslmode=require"


def test_driver_forms_and_redaction() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u@h/db") == "postgresql://u@h/db"
    assert sqlalchemy_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert redact("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


def test_unknown_service_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown service 'billing'; known: api, ingest, engine, reporting"):
        schema_of("billing")


def test_every_read_grant_names_a_view_of_an_owned_table() -> None:
    owned = {f"{s.schema}.{t}" for s in SERVICES.values() for t in s.owns}
    schemas = {s.schema for s in SERVICES.values()}
    for svc in SERVICES.values():
        for target in svc.reads:
            schema, _, view = target.partition(".")
            assert schema in schemas, target
            assert view.startswith("v_"), target  # a read view, never a table
            assert f"{schema}.{view.removeprefix('v_')}" in owned or view == "v_outbox", target
            assert schema != svc.schema, f"{svc.service} grants itself {target}"


@pytest.mark.parametrize("table", sorted(TIME_SERIES))
def test_time_series_ddl_has_one_capability_switch(table: str) -> None:
    column, step = TIME_SERIES[table]
    plain = create_time_series_table_sql(table, "x int", has_timescaledb=False)
    hyper = create_time_series_table_sql(table, "x int", has_timescaledb=True)
    assert plain == [f'CREATE TABLE {table} (x int) PARTITION BY RANGE ("{column}")']
    assert hyper[0] == f"CREATE TABLE {table} (x int)"
    assert f"by_range('{column}', INTERVAL '1 {step}')" in hyper[1]


def test_kafka_clients_authenticate_only_when_a_principal_is_set() -> None:
    from faststream.security import SASLScram512

    from shared.platform.kafka.security import client_options, faststream_security

    plain = Settings(kafka_sasl_username="", kafka_sasl_password="")
    assert client_options(plain) == {}
    assert faststream_security(plain) is None
    scram = Settings(kafka_sasl_username="bts-engine", kafka_sasl_password="s3cret")
    assert client_options(scram) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "bts-engine",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(faststream_security(scram), SASLScram512)
    assert "s3cret" not in repr(scram)  # a secret, never printed
    with pytest.raises(ValueError, match="set together"):
        Settings(kafka_sasl_username="bts-engine", kafka_sasl_password="")
