"""Parameter sweeps and walk-forward runs: the sweep as submitted, and one row per child backtest.

The gateway owns both (what users define); a child's result stays the engine's, and its status the
backtest status read model's. The leaderboard columns (objective value, metrics) are a read model
fed by backtest.completed / backtest.failed.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE sweeps (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name text CHECK (name IS NULL OR length(btrim(name)) BETWEEN 1 AND 100),
        strategy_id uuid REFERENCES strategies (id),
        strategy_type text NOT NULL,
        base_parameters jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(base_parameters) = 'object'),
        space jsonb NOT NULL CHECK (jsonb_typeof(space) = 'object'),
        configuration jsonb NOT NULL CHECK (jsonb_typeof(configuration) = 'object'),
        timeframe text NOT NULL CHECK (timeframe IN ('BAR_1MIN', 'BAR_5MIN', 'BAR_1HOUR', 'BAR_DAILY')),
        objective text NOT NULL,
        direction text NOT NULL CHECK (direction IN ('maximize', 'minimize')),
        heatmap text[] NOT NULL DEFAULT '{}',
        prescreen_top_k integer CHECK (prescreen_top_k IS NULL OR prescreen_top_k >= 1),
        walk_forward jsonb CHECK (walk_forward IS NULL OR jsonb_typeof(walk_forward) = 'object'),
        report_top integer NOT NULL DEFAULT 10 CHECK (report_top BETWEEN 0 AND 200),
        combinations integer NOT NULL CHECK (combinations >= 1),
        skipped integer NOT NULL DEFAULT 0 CHECK (skipped >= 0),
        total integer NOT NULL CHECK (total >= 1),
        kafka_keys text[] NOT NULL CHECK (cardinality(kafka_keys) >= 1),
        status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')),
        error_message text,
        submitted_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        completed_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT sweeps_finished_has_time CHECK (status NOT IN ('COMPLETED', 'FAILED') OR completed_at IS NOT NULL)
    )
    """,
    "CREATE INDEX sweeps_user_idx ON sweeps (user_id, submitted_at DESC)",
    # QUEUED: not published yet; PUBLISHED: on backtest.requested (queued or running in an engine);
    # SCREENED_OUT: ranked below the vectorised pre-screen's top-k, never run.
    """
    CREATE TABLE sweep_children (
        sweep_id uuid NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
        n integer NOT NULL CHECK (n >= 0),
        backtest_id uuid UNIQUE,
        combination integer NOT NULL CHECK (combination >= 0),
        phase text NOT NULL CHECK (phase IN ('SWEEP', 'IN_SAMPLE', 'OUT_OF_SAMPLE')),
        window_index integer CHECK ((phase = 'SWEEP') = (window_index IS NULL)),
        priority smallint NOT NULL DEFAULT 1,
        parameters jsonb NOT NULL CHECK (jsonb_typeof(parameters) = 'object'),
        start_date date NOT NULL,
        end_date date NOT NULL CHECK (end_date > start_date),
        state text NOT NULL CHECK (state IN ('QUEUED', 'PUBLISHED', 'COMPLETED', 'FAILED', 'SCREENED_OUT')),
        kafka_key text,
        prescreen_score double precision,
        objective_value double precision,
        metrics jsonb,
        trades_count integer CHECK (trades_count IS NULL OR trades_count >= 0),
        error_message text,
        published_at timestamptz,
        finished_at timestamptz,
        PRIMARY KEY (sweep_id, n),
        CONSTRAINT sweep_children_run_has_id CHECK (state IN ('QUEUED', 'SCREENED_OUT') OR backtest_id IS NOT NULL
                                                     OR (state = 'FAILED' AND phase = 'OUT_OF_SAMPLE')),
        CONSTRAINT sweep_children_completed_has_metrics CHECK (state <> 'COMPLETED' OR metrics IS NOT NULL)
    )
    """,
    "CREATE INDEX sweep_children_queue_idx ON sweep_children (sweep_id, priority, n) WHERE state = 'QUEUED'",
    "CREATE INDEX sweep_children_window_idx ON sweep_children (sweep_id, window_index, phase)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS sweep_children CASCADE")
    op.execute("DROP TABLE IF EXISTS sweeps CASCADE")
