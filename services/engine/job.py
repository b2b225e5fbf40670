"""What the engine is asked to run (`BacktestJob`) and a request refused before it runs (`Refusal`): plain
types, imported by every other part of the use case (what comes of a run: domain.outcome.BacktestOutcome)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from shared.contracts.models.commission import CommissionModel

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class BacktestJob:
    """One backtest request as the engine runs it. `commission_model` is the typed model (a mapping given
    here is validated into one, so a job built from JSON carries the same defaults as one from a request)."""

    backtest_id: UUID
    user_id: UUID
    configuration_id: UUID
    strategy_type: str
    parameters: dict[str, Any]
    instrument_ids: list[str]
    start_date: date
    end_date: date
    initial_capital: Decimal
    position_size_pct: Decimal
    commission_model: CommissionModel
    benchmark_symbol: str
    timeframe: str = "BAR_DAILY"
    price_adjustment: str = "SPLITS"
    request: dict[str, Any] = field(default_factory=dict)
    sweep_id: UUID | None = None  # a sweep's child: its inputs are read once per sweep (see input_cache)
    data_as_of: datetime | None = None  # read the bars as of this system time; None: now (then recorded)
    # Warm-up (walk-forward out-of-sample windows): bars from this date to start_date feed the indicators,
    # never trades; the period's rules (30 trading days, a signal) apply to start_date..end_date only.
    warmup_start: date | None = None

    @property
    def trade_from(self) -> pd.Timestamp | None:
        """The first time the strategy may trade when the job has a warm-up (its bars before it only warm up)."""
        import pandas as pd  # here, not at the top: the engine's handler builds jobs before pandas is needed

        return None if self.warmup_start is None else pd.Timestamp(self.start_date, tz="UTC")

    def __post_init__(self) -> None:
        if not isinstance(self.commission_model, CommissionModel):
            object.__setattr__(self, "commission_model", CommissionModel.model_validate(self.commission_model))


@dataclass(frozen=True)
class Refusal:
    """A request that may not run: which result it names, and why."""

    backtest_id: UUID
    user_id: UUID
    configuration_id: UUID
    request: dict[str, Any]
    reason: str
