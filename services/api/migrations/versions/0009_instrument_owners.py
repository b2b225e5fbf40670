"""Who may write shared data: an instrument's owner (who registered it) or an admin.

`may_write_instrument(user, instrument)` is the one definition of the rule: the gateway asks it before a
registration overwrite or an import, and the ingest service (which may read api.instruments only) asks
it for `ingest.requested` published straight to Kafka. SECURITY DEFINER: it reads api.users as its owner,
so callers learn one boolean and nothing else. Instruments registered before this revision have no
owner: only admins may write them.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE instruments ADD COLUMN IF NOT EXISTS owner_id uuid REFERENCES users (id) ON DELETE SET NULL"
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION may_write_instrument(caller uuid, instrument text) RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = api, pg_temp AS $$
            SELECT EXISTS (SELECT 1 FROM users WHERE id = caller AND is_admin)
                OR EXISTS (SELECT 1 FROM instruments WHERE id = instrument AND owner_id = caller)
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS may_write_instrument(uuid, text)")
    op.execute("ALTER TABLE instruments DROP COLUMN IF EXISTS owner_id")
