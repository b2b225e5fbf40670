"""DDL of the messaging tables every service schema has: the transactional outbox and the inbox
of processed event ids (idempotent consumers). Each service's first migration applies it."""

from __future__ import annotations


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


def outbox_job_index_ddl(schema: str, id_field: str) -> str:
    """The index `shared.kafka.resend` finds a job's events by (`data.<id_field>` of the outbox payload)."""
    return f"CREATE INDEX IF NOT EXISTS outbox_{id_field}_idx ON {schema}.outbox ((payload -> 'data' ->> '{id_field}'))"
