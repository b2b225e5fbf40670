"""Gateway tables: users, API keys, instruments, strategies, configurations and the status read models.

Revision ID: 0001
Revises:
"""

from alembic import op

from shared.platform.kafka.sql import messaging_ddl

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE users (
        id uuid PRIMARY KEY,
        name text NOT NULL UNIQUE CHECK (length(btrim(name)) BETWEEN 1 AND 100),
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        key_hash text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
        prefix text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
    )
    """,
    "CREATE INDEX api_keys_user_idx ON api_keys (user_id)",
    """
    CREATE TABLE instruments (
        id text PRIMARY KEY,
        symbol text NOT NULL CHECK (symbol ~ '^[A-Z0-9][A-Z0-9./-]{0,19}$'),
        exchange text NOT NULL CHECK (exchange ~ '^[A-Z0-9]{2,12}$'),
        asset_class text NOT NULL CHECK (asset_class IN ('EQUITY', 'ETF', 'FX', 'FUTURE', 'OPTION')),
        currency text NOT NULL CHECK (currency IN ('USD', 'EUR', 'GBP', 'JPY')),
        tick_size numeric NOT NULL CHECK (tick_size > 0),
        lot_size integer NOT NULL CHECK (lot_size > 0),
        trading_hours jsonb NOT NULL CHECK (jsonb_typeof(trading_hours) = 'object'),
        margin_requirement numeric NOT NULL CHECK (margin_requirement > 0 AND margin_requirement <= 100),
        created_at timestamptz NOT NULL DEFAULT now(),
        -- "Symbol must be valid for exchange": the Nautilus id is SYMBOL.EXCHANGE
        CONSTRAINT instruments_id_is_symbol_dot_exchange CHECK (id = symbol || '.' || exchange)
    )
    """,
    """
    CREATE TABLE strategies (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
        strategy_type text NOT NULL CHECK (strategy_type IN ('SMA_CROSSOVER', 'MEAN_REVERSION', 'MOMENTUM')),
        parameters jsonb NOT NULL
            CHECK (jsonb_typeof(parameters) = 'object' AND parameters <> '{}'::jsonb),
        status text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'ACTIVE', 'ARCHIVED')),
        is_active boolean GENERATED ALWAYS AS (status = 'ACTIVE') STORED,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT strategies_name_unique_per_user UNIQUE (user_id, name)
    )
    """,
    # Draft -> Active -> Archived, and archived strategies are read-only, also for direct SQL.
    """
    CREATE FUNCTION strategies_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        IF OLD.status = 'ARCHIVED' THEN
            RAISE EXCEPTION 'strategy % is ARCHIVED and read-only', OLD.id USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.status <> OLD.status AND NOT (
            (OLD.status = 'DRAFT' AND NEW.status = 'ACTIVE') OR (OLD.status = 'ACTIVE' AND NEW.status = 'ARCHIVED')
        ) THEN
            RAISE EXCEPTION 'strategy % cannot go from % to %', OLD.id, OLD.status, NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        NEW.updated_at := now();
        RETURN NEW;
    END
    $fn$
    """,
    "CREATE TRIGGER strategies_guard BEFORE UPDATE ON strategies FOR EACH ROW EXECUTE FUNCTION strategies_guard()",
    """
    CREATE TABLE backtest_configurations (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        strategy_id uuid NOT NULL REFERENCES strategies (id),
        instrument_ids text[] NOT NULL CHECK (cardinality(instrument_ids) >= 1),
        start_date date NOT NULL CHECK (start_date >= DATE '2019-01-01'),
        end_date date NOT NULL CHECK (end_date <= DATE '2024-12-31'),
        initial_capital numeric NOT NULL DEFAULT 100000 CHECK (initial_capital >= 1000),
        position_size_pct numeric NOT NULL DEFAULT 1 CHECK (position_size_pct BETWEEN 0.1 AND 10),
        commission_model jsonb NOT NULL CHECK (commission_model ? 'type'),
        data_source text NOT NULL DEFAULT 'CSV_FILE' CHECK (data_source IN ('IBKR', 'CSV_FILE')),
        benchmark_symbol text NOT NULL DEFAULT 'SPY',
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT backtest_configurations_end_after_start CHECK (end_date > start_date)
    )
    """,
    "CREATE INDEX backtest_configurations_strategy_idx ON backtest_configurations (strategy_id)",
    # Read model of backtest status, fed by backtest.* events (also those of outside producers).
    """
    CREATE TABLE backtest_status (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL,
        configuration_id uuid,
        status text NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')),
        progress_pct numeric NOT NULL DEFAULT 0 CHECK (progress_pct BETWEEN 0 AND 100),
        estimated_completion timestamptz,
        error_message text,
        submitted_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX backtest_status_user_idx ON backtest_status (user_id, submitted_at DESC)",
    # Read model of import jobs, fed by ingest.* and bars.loaded.
    """
    CREATE TABLE import_jobs (
        id uuid PRIMARY KEY,
        user_id uuid,
        instrument_id text NOT NULL,
        timeframe text NOT NULL CHECK (timeframe IN ('BAR_1MIN', 'BAR_5MIN', 'BAR_1HOUR', 'BAR_DAILY')),
        source text NOT NULL CHECK (source IN ('IBKR', 'CSV_FILE')),
        status text NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')),
        rows_done bigint NOT NULL DEFAULT 0 CHECK (rows_done >= 0),
        rows_total bigint CHECK (rows_total >= 0),
        rows_loaded bigint NOT NULL DEFAULT 0 CHECK (rows_loaded >= 0),
        rows_rejected bigint NOT NULL DEFAULT 0 CHECK (rows_rejected >= 0),
        errors jsonb NOT NULL DEFAULT '[]'::jsonb,
        error_message text,
        submitted_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS + messaging_ddl("api"):
        op.execute(statement)


def downgrade() -> None:
    for table in (
        "import_jobs",
        "backtest_status",
        "backtest_configurations",
        "strategies",
        "instruments",
        "api_keys",
        "users",
        "outbox",
        "processed_events",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP FUNCTION IF EXISTS strategies_guard()")
