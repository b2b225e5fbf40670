from shared.platform.db.alembic_env import run_migrations

run_migrations(service="ingest")
