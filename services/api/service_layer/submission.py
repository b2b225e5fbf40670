"""The one submission check of the gateway, for a backtest and for every period of a sweep: the strategy
(the caller's, ACTIVE, its parameters still valid), the instruments (registered), the data (at least
MIN_TRADING_DAYS trading days of bars in each period) and the benchmark. Each problem names its field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from services.api.domain.submission import (
    Problem,
    benchmark_problems,
    data_problems,
    instrument_problems,
    strategy_problems,
)
from services.api.service_layer.unit_of_work import UnitOfWork
from shared.contracts.models.backtest import BacktestConfiguration
from shared.contracts.models.strategy import TradingStrategy


class Refused(Exception):
    """The submission breaks a rule that needs the stored facts: each problem names its field (a 422)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Period:
    """A stretch of the run checked for data; `where` prefixes its problems ("" for the whole run)."""

    start: date
    end: date
    where: str = ""


async def check_strategy(uow: UnitOfWork, user_id: UUID, strategy_id: UUID) -> TradingStrategy:
    """The user's strategy if it may run; Refused otherwise (also for another user's strategy)."""
    strategy = await uow.strategies.get(user_id, strategy_id)
    problems = strategy_problems(strategy, strategy_id)
    if problems or strategy is None:
        raise Refused(problems)
    return strategy


async def data_check(
    uow: UnitOfWork, config: BacktestConfiguration, timeframe: str, periods: Sequence[Period]
) -> list[Problem]:
    """Unknown instruments, and per period: too few trading days of bars, an unresolved benchmark."""
    requested = list(config.instrument_ids)
    known = await uow.market.known_instruments(requested)
    problems = instrument_problems(requested, known)
    for period in periods:
        sessions = {
            iid: await uow.market.sessions_with_bars(iid, timeframe, period.start, period.end)
            for iid in requested
            if iid in known
        }
        for problem in data_problems(requested, sessions, timeframe):
            problems.append(
                Problem("body.walk_forward", f"{period.where}{problem.message}") if period.where else problem
            )
        choice = await uow.market.benchmark(config.benchmark_symbol, period.start, period.end)
        problems += benchmark_problems(choice, period.where)
    return problems
