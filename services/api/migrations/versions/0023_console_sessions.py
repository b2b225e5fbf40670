"""Web console sessions: a sign-in with an API key becomes a session row; the cookie holds a random token whose
SHA-256 is the key of the row (like API keys, the token itself is never stored). Revoking the key ends its
sessions (the lookup joins the key and requires it unrevoked; deleting it cascades).

Revision ID: 0023
Revises: 0020
"""

from alembic import op

revision = "0023"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS api.console_sessions (
            token_hash text PRIMARY KEY CHECK (length(token_hash) = 64),
            key_id uuid NOT NULL REFERENCES api.api_keys (id) ON DELETE CASCADE,
            csrf_token text NOT NULL CHECK (length(csrf_token) >= 32),
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            CHECK (expires_at > created_at)
        )
        """
    )
    op.execute("CREATE INDEX IF NOT EXISTS console_sessions_expiry ON api.console_sessions (expires_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS api.console_sessions")
