"""Which partition a key lands on, and keys that cover every partition (Kafka's default partitioner)."""

from __future__ import annotations

import itertools
from uuid import UUID

from aiokafka.partitioner import murmur2


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as in the Java client and aiokafka) gives `key`."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def partition_keys(sweep_id: UUID, partitions: int) -> list[str]:
    """One key per partition, in partition order."""
    found: dict[int, str] = {}
    for salt in itertools.count():
        key = f"{sweep_id}:{salt}"
        found.setdefault(partition_of(key, partitions), key)
        if len(found) == partitions:
            return [found[p] for p in range(partitions)]
    raise AssertionError("unreachable")
