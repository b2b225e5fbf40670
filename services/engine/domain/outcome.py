"""From a run's input to its outcome (pure CPU work: Nautilus, ledger, metrics, series, warnings).

No database, broker or clock: the use case (services.engine.backtest_job) loads the input, runs this in
a worker thread, and stores what it returns. The manifest is added by the use case (it reads the
installation's versions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from services.engine.domain.errors import JobRejected
from services.engine.domain.ledger import Ledger, Snapshot, build_ledger, equity_curve
from services.engine.domain.metrics import performance_metrics
from services.engine.domain.no_trade import CheapestLot, no_trade_warning
from services.engine.domain.progress import RunTracker
from services.engine.domain.runner import MarginCall, RunInput, RunOutput, run_backtest
from services.engine.domain.sessions import session_dates
from shared.contracts.models.backtest import SHARPE_REALISTIC, sharpe_unrealistic
from shared.contracts.models.no_signal import no_signal_message

SnapshotSink = Callable[[list[Snapshot]], None]


@dataclass
class BacktestOutcome:
    status: str  # COMPLETED / FAILED / SKIPPED (already finished: a redelivery)
    error_message: str | None = None
    metrics: dict[str, Any] | None = None
    trades_count: int = 0  # closed round trips
    winning_trades: int = 0
    losing_trades: int = 0
    open_trades: int = 0  # still open at the end, marked at the last known price
    open_pnl: Decimal = Decimal(0)
    benchmark_instrument_id: str | None = None  # what benchmark_symbol resolved to (None: no benchmark data)
    final_value: Decimal = Decimal(0)
    warnings: list[str] = field(default_factory=list)
    series: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None


@dataclass(frozen=True)
class Benchmark:
    """The benchmark as requested (`symbol`) and its daily closes (named by the instrument id it resolved to;
    None: no benchmark data)."""

    symbol: str
    closes: pd.Series | None


@dataclass(frozen=True)
class Ran:
    """A run's Nautilus output, its closes at each session's end, and its ledger."""

    output: RunOutput
    daily: pd.DataFrame
    ledger: Ledger


def run_and_book(
    request: RunInput,
    period: tuple[date, date],
    tracker: RunTracker | None = None,
    sink: SnapshotSink | None = None,
    batch: int = 256,
) -> Ran:
    """Run `request` on Nautilus and build its ledger. With a `sink`, the snapshots go into it in batches of
    `batch` while the ledger is built."""
    output = run_backtest(request, tracker)
    if output.signals == 0:
        raise JobRejected(no_signal_message(period[0], period[1]))
    # Marks: each instrument's last close at or before a snapshot's time, as Nautilus had them; end of
    # day is the last bar of each session.
    closes = output.closes.ffill()
    if request.trade_from is not None:  # the warm-up bars are not part of the result (nothing traded on them)
        closes = closes[closes.index >= request.trade_from]
    daily = closes.groupby(session_dates(pd.DatetimeIndex(closes.index))).tail(1)
    ledger = build_ledger(
        output.fills,
        daily,
        request.initial_capital,
        {s.id: s.margin_pct for s in request.instruments},
        closes,
        sink=sink,
        batch=batch,
    )
    return Ran(output, daily, ledger)


def outcome_of(request: RunInput, benchmark: Benchmark, ran: Ran) -> BacktestOutcome:
    """The COMPLETED outcome of a booked run: metrics, series and warnings."""
    outcome = summary(request, benchmark, ran.output, ran.daily, ran.ledger)
    if not ran.ledger.trades:  # completed, but nothing to show in the trades: say why
        outcome.warnings.append(_no_trade(request, ran.output.signals))
    return outcome


def _no_trade(request: RunInput, signals: int) -> str:
    lots = {spec.id: spec.lot_size for spec in request.instruments}
    cheapest = min(
        (CheapestLot(iid, Decimal(str(frame["close"].min())), lots[iid]) for iid, frame in request.bars.items()),
        key=lambda lot: lot.cost,
    )
    return no_trade_warning(request.initial_capital, request.position_size_pct, signals, cheapest)


def summary(
    request: RunInput, benchmark: Benchmark, output: RunOutput, daily: pd.DataFrame, ledger: Ledger
) -> BacktestOutcome:
    """Metrics, series and warnings of a run whose ledger is built."""
    capital = request.initial_capital
    curve = equity_curve(ledger)
    curve.index = session_dates(pd.DatetimeIndex(curve.index))
    # The curve starts from the initial capital the day before the first session.
    start = pd.Series([float(capital)], index=[curve.index[0] - timedelta(days=1)])
    curve = pd.concat([start, curve])
    closed = [t.pnl for t in ledger.closed_trades if t.pnl is not None]
    metrics = performance_metrics(curve, float(capital), closed, benchmark.closes)
    outcome = BacktestOutcome(
        status="COMPLETED",
        metrics=metrics,
        trades_count=len(closed),
        winning_trades=sum(1 for pnl in closed if pnl > 0),
        losing_trades=sum(1 for pnl in closed if pnl < 0),
        open_trades=len(ledger.open_trades),
        open_pnl=ledger.open_pnl(),
        benchmark_instrument_id=str(benchmark.closes.name) if benchmark.closes is not None else None,
        final_value=ledger.snapshots[-1].total_value if ledger.snapshots else capital,
    )
    outcome.series = series(daily.set_axis(session_dates(pd.DatetimeIndex(daily.index))), benchmark)
    if output.margin_calls:
        outcome.warnings.append(margin_call_warning(output.margin_calls))
    sharpe = metrics["risk"]["sharpe_ratio"]
    if sharpe_unrealistic(sharpe):
        low, high = SHARPE_REALISTIC
        outcome.warnings.append(f"sharpe_ratio {sharpe:.2f} is outside the realistic range {low:g}..{high:g}")
    return outcome


def margin_call_warning(calls: list[MarginCall]) -> str:
    first = calls[0]
    closed = sum(len(c.closed) for c in calls)
    return (
        f"margin call: {len(calls)} time(s), {closed} position(s) closed to keep total margin within 3x the "
        f"account value (first on {first.ts:%Y-%m-%d}: margin {first.margin_used:.2f} against an account value "
        f"of {first.account_value:.2f}, closed {', '.join(first.closed)})"
    )


def series(daily: pd.DataFrame, benchmark: Benchmark) -> dict[str, Any]:
    """The daily closes the run used, stored with the result for its reports."""

    def dates_of(values: pd.Series | pd.DataFrame) -> Any:
        dates = pd.DatetimeIndex(values.index)
        return (dates.tz_convert(None) if dates.tz is not None else dates).strftime("%Y-%m-%d").to_numpy()

    def pack(values: pd.Series, dates: Any) -> dict[str, list[Any]]:
        present = values.notna().to_numpy()
        return {"dates": dates[present].tolist(), "values": [round(v, 6) for v in values[present].tolist()]}

    days = dates_of(daily)  # the instruments share the index: its dates are formatted once
    packed: dict[str, Any] = {"closes": {str(c): pack(daily[c].astype(float), days) for c in daily.columns}}
    if benchmark.closes is not None:
        packed["benchmark"] = {
            "symbol": benchmark.symbol,
            "instrument_id": benchmark.closes.name,
            **pack(benchmark.closes.astype(float), dates_of(benchmark.closes)),
        }
    return packed
