"""/backtests/compare: several of your completed backtests, metrics side by side (and equity curves).

The gateway serves the data (read-only, through shared/platform/db/reads.py, ownership checked); the HTML
comparison report is rendered from this JSON by the reporting service's renderer in the CLI
(`bts backtest compare`), so the gateway needs no charting and no new topic or table is needed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.api.auth import CurrentUser
from services.api.domain.comparison import (
    MAX_COMPARED,
    ComparisonRequestError,
    label,
    parse_ids,
    side_by_side,
    unique_labels,
)
from services.api.handlers.deps import Db
from services.api.problems import FieldError, ProblemError, not_found, unprocessable
from services.api.repository.backtests import status_row
from services.api.schemas import ComparedBacktest, ComparisonOut, EquityCurve, MetricRow
from shared.contracts.models.enums import BacktestStatus
from shared.platform.db.reads import ResultRow, fetch_daily_equity, fetch_result

router = APIRouter(prefix="/backtests", tags=["backtests"])


@router.get("/compare", response_model=ComparisonOut, responses={409: {"description": "one of them has not COMPLETED"}})
async def compare(
    user: CurrentUser,
    conn: Db,
    ids: Annotated[str, Query(description=f"2 to {MAX_COMPARED} of your backtest ids, comma-separated")],
    curves: Annotated[bool, Query(description="also each backtest's daily equity curve")] = False,
) -> ComparisonOut:
    """Metrics of the data model's JSON side by side, with the best value of each marked; another user's id
    answers 404, a backtest that has not COMPLETED 409."""
    try:
        wanted = parse_ids(ids)
    except ComparisonRequestError as exc:
        raise unprocessable([FieldError(field="query.ids", message=str(exc))]) from exc
    results: list[ResultRow] = []
    for backtest_id in wanted:
        if await status_row(conn, user, backtest_id) is None:
            raise not_found("backtest", backtest_id)
        result = await fetch_result(conn, backtest_id)
        if result is None or result.status != BacktestStatus.COMPLETED or result.metrics is None:
            state = result.status if result is not None else BacktestStatus.PENDING
            raise ProblemError(
                409, "Conflict", f"backtest {backtest_id} is {state}: only COMPLETED backtests can be compared"
            )
        results.append(result)
    compared = [await _compared(conn, r, curves) for r in results]
    for item, text in zip(compared, unique_labels([c.label for c in compared], wanted), strict=True):
        item.label = text
    rows = [
        MetricRow(
            group=row.group,
            metric=row.metric,
            values=row.values,
            best=wanted[row.best] if row.best is not None else None,
        )
        for row in side_by_side([r.metrics or {} for r in results])
    ]
    return ComparisonOut(backtests=compared, metrics=rows)


async def _compared(conn: Db, result: ResultRow, curves: bool) -> ComparedBacktest:
    request: dict[str, Any] = result.request or {}
    strategy: dict[str, Any] = request.get("strategy") or {}
    config: dict[str, Any] = request.get("configuration") or {}
    equity = None
    if curves:
        rows = await fetch_daily_equity(conn, result.id)
        equity = EquityCurve(
            dates=[r["timestamp"].date() for r in rows], values=[float(r["total_value"]) for r in rows]
        )
    return ComparedBacktest(
        id=result.id,
        label=label(strategy, result.id),
        strategy_type=strategy.get("strategy_type"),
        strategy_name=strategy.get("name"),
        parameters=strategy.get("parameters") or {},
        instrument_ids=list(config.get("instrument_ids") or []),
        start_date=config.get("start_date"),
        end_date=config.get("end_date"),
        initial_capital=config.get("initial_capital"),
        trades_count=result.trades_count,
        winning_trades=result.winning_trades,
        losing_trades=result.losing_trades,
        completed_at=result.completed_at,
        metrics=result.metrics or {},
        equity=equity,
    )
