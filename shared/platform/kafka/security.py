"""How every Kafka client of a service authenticates: one place, from the settings (BTS_KAFKA_SASL_*).

Unset username: plaintext without authentication (the embedded Tansu of `bts up`). Set: SASL (SCRAM by
default) as the service's own principal, whose ACLs docker-compose.yml grants.
"""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.platform.settings import Settings, get_settings


def client_options(settings: Settings | None = None) -> dict[str, Any]:
    """Keyword arguments for aiokafka's clients (producer, consumer, admin, client); empty when unset."""
    current = settings or get_settings()
    if current.kafka_sasl_username is None or current.kafka_sasl_password is None:
        return {}
    options: dict[str, Any] = {
        "security_protocol": current.kafka_security_protocol,
        "sasl_mechanism": current.kafka_sasl_mechanism,
        "sasl_plain_username": current.kafka_sasl_username,
        "sasl_plain_password": current.kafka_sasl_password.get_secret_value(),
    }
    if current.kafka_security_protocol == "SASL_SSL":
        options["ssl_context"] = create_ssl_context()
    return options


def faststream_security(settings: Settings | None = None) -> BaseSecurity | None:
    """The same credentials for FastStream's broker (the gateway's subscriber); None when unset."""
    current = settings or get_settings()
    if current.kafka_sasl_username is None or current.kafka_sasl_password is None:
        return None
    kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
    use_ssl = current.kafka_security_protocol == "SASL_SSL"
    password = current.kafka_sasl_password.get_secret_value()
    security: BaseSecurity = kind[current.kafka_sasl_mechanism](current.kafka_sasl_username, password, use_ssl=use_ssl)
    return security
