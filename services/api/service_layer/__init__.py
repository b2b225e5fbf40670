"""The gateway's use cases: what a REST route or a Kafka handler asks for, against a unit of work."""

from typing import Final

SOURCE: Final = "bts/api"  # the `source` of every event the gateway publishes
