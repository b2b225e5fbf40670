"""Progress bars for long work (rich), and the summaries printed after it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from bts.console import err

if TYPE_CHECKING:
    from rich.progress import Progress


def bars(rows: bool = False) -> Progress:
    """Progress goes to stderr so --json output on stdout stays clean."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    counter = MofNCompleteColumn() if rows else TaskProgressColumn()
    return Progress(
        TextColumn("{task.description:<30}"), BarColumn(), counter, TimeElapsedColumn(), console=err, transient=False
    )


def row_errors_table(errors: list[dict[str, Any]], total: int | None = None) -> Table:
    shown = len(errors)
    title = f"rejected rows ({shown} shown" + (f" of {total})" if total and total > shown else ")")
    table = Table(title=title)
    table.add_column("line", justify="right")
    table.add_column("field")
    table.add_column("message")
    for e in errors:
        table.add_row(str(e.get("line")), str(e.get("field")), str(e.get("message")))
    return table


def pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.1%}"


def num(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def metrics_table(title: str, rows: list[tuple[str, dict[str, Any] | None, int]]) -> Table:
    """Headline metrics: (label, metrics JSON or None, trades)."""
    table = Table(title=title)
    table.add_column("backtest", no_wrap=True)
    for column in ("return", "CAGR", "Sharpe", "max DD", "trades", "win", "benchmark"):
        table.add_column(column, justify="right", no_wrap=True)
    for label, m, trades in rows:
        if m is None:
            table.add_row(label, "-", "-", "-", "-", str(trades), "-", "-")
            continue
        returns, risk, trading, bench = (m.get(k) or {} for k in ("returns", "risk", "trading", "benchmark"))
        table.add_row(
            label,
            pct(returns.get("total_return")),
            pct(returns.get("cagr")),
            num(risk.get("sharpe_ratio")),
            pct(risk.get("max_drawdown")),
            str(trades),
            f"{float(trading.get('win_rate') or 0):.0%}",
            pct(bench.get("benchmark_return")),
        )
    return table
