"""HTTP bodies of /sweeps: what to sweep and how it went."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.api.schemas import ConfigurationFields
from shared.contracts.models import Timeframe
from shared.contracts.models.enums import BacktestStatus
from shared.contracts.models.walk_forward import WalkForwardSpec

Scalar = int | float | bool | str
MAX_COUNT = 1_000_000  # top_k and samples: beyond any BTS_SWEEP_MAX_RUNS (the real limit, checked before expansion)


class RangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    low: float = Field(ge=-1e12, le=1e12)
    high: float = Field(ge=-1e12, le=1e12)


class PrescreenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(ge=1, le=MAX_COUNT, description="run only the k combinations the vectorised screen ranks best")


class SweepSubmit(ConfigurationFields):
    """A parameter sweep: one backtest per combination, the configuration fields as for a backtest."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "SMA grid",
                    "strategy_type": "SMA_CROSSOVER",
                    "grid": {"fast_period": [5, 10, 20], "slow_period": [50, 100, 200]},
                    "objective": "sharpe_ratio",
                    "instrument_ids": ["AAPL.NASDAQ", "MSFT.NASDAQ"],
                    "start_date": "2019-01-02",
                    "end_date": "2024-12-31",
                    "position_size_pct": "5",
                },
                {
                    "strategy_type": "MEAN_REVERSION",
                    "ranges": {"lookback": {"low": 10, "high": 60}, "entry_z": {"low": 1.0, "high": 3.0}},
                    "parameters": {"exit_z": 0.5},
                    "samples": 50,
                    "seed": 7,
                    "objective": "max_drawdown",
                    "instrument_ids": ["AAPL.NASDAQ"],
                    "start_date": "2019-01-02",
                    "end_date": "2024-12-31",
                    "walk_forward": {"in_sample_months": 24, "out_of_sample_months": 6, "mode": "rolling"},
                },
            ]
        },
    )

    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    strategy_id: UUID | None = Field(
        default=None, description="an ACTIVE strategy of yours: its type, and its parameters as the fixed ones"
    )
    strategy_type: str | None = Field(
        default=None, description="or a strategy type (no stored strategy needed)", examples=["SMA_CROSSOVER"]
    )
    parameters: dict[str, Scalar] = Field(default_factory=dict, description="fixed values of parameters not swept")
    grid: dict[str, list[Scalar]] = Field(
        default_factory=dict,
        description="values per parameter: every combination runs (with ranges: values drawn from)",
    )
    ranges: dict[str, RangeIn] = Field(
        default_factory=dict,
        description="random search: {low, high} per numeric parameter, integers for integer parameters",
    )
    samples: int | None = Field(default=None, ge=1, le=MAX_COUNT, description="random search: combinations to draw")
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**32 - 1,
        description="random search: the generator's seed (one is chosen and returned when absent)",
    )
    objective: str = Field(
        default="sharpe_ratio", description="any metric of the metrics JSON, e.g. sharpe_ratio or risk.max_drawdown"
    )
    direction: Literal["maximize", "minimize"] | None = Field(
        default=None,
        description="which way is better; by default the metric's natural one (higher Sharpe, "
        "smaller drawdown, lower volatility)",
    )
    heatmap: list[str] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="two swept parameters for the report's heatmap (default: the first two)",
    )
    prescreen: PrescreenIn | None = Field(
        default=None,
        description="rank every combination with a vectorised "
        "re-implementation first (SMA_CROSSOVER) and run only the top k",
    )
    walk_forward: WalkForwardSpec | None = Field(
        default=None, description="split the period into in-sample / out-of-sample windows"
    )
    report_top: int = Field(default=10, ge=0, le=200, description="the best children that get a full report")
    timeframe: Timeframe = Timeframe.BAR_DAILY

    @model_validator(mode="after")
    def _one_strategy(self) -> SweepSubmit:
        if (self.strategy_id is None) == (self.strategy_type is None):
            raise ValueError("give exactly one of strategy_id and strategy_type")
        return self


class SweepAccepted(BaseModel):
    id: UUID
    status: BacktestStatus = BacktestStatus.PENDING
    combinations: int = Field(description="parameter combinations the sweep covers")
    skipped: int = Field(description="combinations dropped by a rule between parameters (e.g. fast >= slow)")
    total: int = Field(description="backtests it will run (walk-forward: combinations x windows + one per window)")
    seed: int | None = None
    windows: list[dict[str, Any]] = Field(default_factory=list)


class LeaderboardRow(BaseModel):
    rank: int
    backtest_id: UUID | None
    parameters: dict[str, Any]
    phase: str
    window_index: int | None
    status: str = Field(description="QUEUED, PUBLISHED, COMPLETED, FAILED or SCREENED_OUT")
    objective: float | None
    prescreen_score: float | None = None
    total_return: float | None = None
    cagr: float | None = None
    sharpe_ratio: float | None = None
    max_drawdown: float | None = None
    win_rate: float | None = None
    trades_count: int | None = None
    error_message: str | None = None


class WindowOut(BaseModel):
    index: int
    in_sample_start: date
    in_sample_end: date
    out_of_sample_start: date
    out_of_sample_end: date
    in_sample_done: int
    in_sample_total: int
    best_parameters: dict[str, Any] | None = None
    in_sample_objective: float | None = None
    in_sample_backtest_id: UUID | None = None
    out_of_sample_backtest_id: UUID | None = None
    out_of_sample_status: str | None = Field(
        default=None,
        description="its run's state; FLAT: no signal in the window, the money stayed in cash (0%), not a failure",
    )
    out_of_sample_objective: float | None = None
    out_of_sample_return: float | None = None
    efficiency: float | None = Field(default=None, description="out-of-sample / in-sample objective of this window")
    error_message: str | None = None


class WalkForwardOut(BaseModel):
    mode: str
    in_sample_months: int
    out_of_sample_months: int
    windows: list[WindowOut]
    efficiency: float | None = Field(
        default=None,
        description="walk-forward efficiency: mean out-of-sample objective / mean in-sample objective of the chosen "
        "parameters, over the windows where both are defined",
    )
    stitched: dict[str, float | None] | None = Field(
        default=None, description="metrics of the stitched out-of-sample equity curve, once every window ran"
    )


class SweepSummary(BaseModel):
    id: UUID
    name: str | None
    status: str
    strategy_id: UUID | None
    strategy_type: str
    objective: str
    direction: str
    total: int
    done: int
    failed: int
    progress_pct: float
    submitted_at: datetime
    completed_at: datetime | None


class SweepOut(SweepSummary):
    combinations: int
    skipped: int
    completed: int
    running: int
    queued: int
    screened_out: int
    started_at: datetime | None
    estimated_completion: datetime | None
    error_message: str | None
    space: dict[str, Any]
    parameters: dict[str, Any] = Field(description="fixed parameters")
    configuration: dict[str, Any]
    timeframe: str
    heatmap: list[str]
    prescreen_top_k: int | None
    report_top: int
    leaderboard: list[LeaderboardRow]
    walk_forward: WalkForwardOut | None = None
    report_url: str | None = Field(default=None, description="the sweep's HTML report, once written")


class CurvePoint(BaseModel):
    date: date
    value: float


class WalkForwardCurve(BaseModel):
    sweep_id: UUID
    initial_capital: float
    points: list[CurvePoint] = Field(description="the stitched out-of-sample equity curve (end-of-day values)")
    stitched: dict[str, float | None]
    windows: list[WindowOut]
