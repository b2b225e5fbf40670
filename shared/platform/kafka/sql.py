"""DDL of the messaging tables every service schema has: the transactional outbox and the inbox
of processed event ids (idempotent consumers). Each service's first migration applies it; later ones
add the outbox's parking columns (`outbox_parking_ddl`) and its read view (`outbox_read_view_ddl`),
which a new schema gets at once."""

from __future__ import annotations

from typing import Final

# An outbox row's life: pending until the broker acknowledges it (published), or parked when the broker
# refuses it for a reason no retry can fix (too large, invalid topic, unserialisable): it then holds back
# nothing, and operators see it (GET /api/v1/ops/outbox, `bts ops outbox`).
PENDING: Final = "pending"
PUBLISHED: Final = "published"
PARKED: Final = "parked"


def notify_channel(schema: str) -> str:
    """LISTEN/NOTIFY channel that wakes the schema's outbox relay right after a commit."""
    return f"{schema}_outbox"


def messaging_ddl(schema: str) -> list[str]:
    return [
        f"""
        CREATE TABLE IF NOT EXISTS {schema}.outbox (
            id bigserial PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            topic text NOT NULL,
            key text,
            payload jsonb NOT NULL,
            headers jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz
        )
        """,
        f"CREATE INDEX IF NOT EXISTS outbox_unpublished_idx ON {schema}.outbox (id) WHERE published_at IS NULL",
        *outbox_parking_ddl(schema),
        outbox_read_view_ddl(schema),
        f"""
        CREATE TABLE IF NOT EXISTS {schema}.processed_events (
            consumer_group text NOT NULL,
            event_id uuid NOT NULL,
            topic text NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer_group, event_id)
        )
        """,
    ]


def outbox_parking_ddl(schema: str) -> list[str]:
    """Status, parked reason and time of outbox rows, and the indexes the relay's per-key claim uses.
    Idempotent: run by the first migration of a new schema and by the parking migration of an old one."""
    return [
        f"ALTER TABLE {schema}.outbox ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT '{PENDING}' "
        f"CHECK (status IN ('{PENDING}', '{PUBLISHED}', '{PARKED}'))",
        f"ALTER TABLE {schema}.outbox ADD COLUMN IF NOT EXISTS parked_reason text",
        f"ALTER TABLE {schema}.outbox ADD COLUMN IF NOT EXISTS parked_at timestamptz",
        f"UPDATE {schema}.outbox SET status = '{PUBLISHED}' WHERE published_at IS NOT NULL AND status <> '{PUBLISHED}'",
        f"CREATE INDEX IF NOT EXISTS outbox_pending_idx ON {schema}.outbox (id) WHERE status = '{PENDING}'",
        f"CREATE INDEX IF NOT EXISTS outbox_pending_key_idx ON {schema}.outbox (key, id) WHERE status = '{PENDING}'",
        f"CREATE INDEX IF NOT EXISTS outbox_parked_idx ON {schema}.outbox (parked_at) WHERE status = '{PARKED}'",
    ]


def outbox_read_view_ddl(schema: str) -> str:
    """`<schema>.v_outbox`: what the gateway's operators read of another service's outbox (GET /ops/outbox):
    each row's state and size, not its payload. Idempotent."""
    return (
        f"CREATE OR REPLACE VIEW {schema}.v_outbox AS SELECT id, event_id, topic, key, status, parked_reason, "
        f"created_at, parked_at, published_at, octet_length(payload::text) AS payload_bytes FROM {schema}.outbox"
    )


def outbox_job_index_ddl(schema: str, id_field: str) -> str:
    """The index `shared.platform.kafka.resend` finds a job's events by (`data.<id_field>` of the outbox payload)."""
    return f"CREATE INDEX IF NOT EXISTS outbox_{id_field}_idx ON {schema}.outbox ((payload -> 'data' ->> '{id_field}'))"
