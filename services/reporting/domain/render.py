"""Render the three report types from ReportData: one self-contained HTML file, CSVs, and JSON.

The HTML inlines plotly.js once (about 4.8 MB), so it opens offline and never fetches anything.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.offline

from services.reporting.domain.charts import all_charts
from services.reporting.domain.report_data import PORTFOLIO_COLUMNS, TIME_ZONE, TRADE_COLUMNS, ReportData
from services.reporting.domain.tearsheet import extended_metrics
from shared.contracts.models.enums import BacktestStatus
from shared.presentation.html import environment
from shared.presentation.metrics import GROUP_TITLES, LABELS, format_metric, percent_text

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

HEADLINE = [
    ("returns", "total_return"),
    ("returns", "cagr"),
    ("risk", "sharpe_ratio"),
    ("risk", "max_drawdown"),
    ("risk", "volatility"),
    ("trading", "win_rate"),
    ("trading", "profit_factor"),
    ("benchmark", "benchmark_return"),
]


def _config_rows(config: dict[str, Any]) -> list[tuple[str, str]]:
    def show(value: Any) -> str:
        return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)

    order = [
        "strategy_name",
        "strategy_type",
        "parameters",
        "instrument_ids",
        "start_date",
        "end_date",
        "initial_capital",
        "position_size_pct",
        "commission_model",
        "data_source",
        "benchmark_symbol",
        "price_adjustment",
    ]
    rows = [(k.replace("_", " "), show(config[k])) for k in order if k in config]
    rows += [(k.replace("_", " "), show(v)) for k, v in sorted(config.items()) if k not in order]
    return rows


def render_html(data: ReportData, generated_at: datetime, extended: dict[str, Any] | None = None) -> str:
    """The report page; `extended`: the tear sheet's figures when the caller has them already (else computed)."""
    currency = str(data.configuration.get("currency", "USD"))
    completed = data.status == BacktestStatus.COMPLETED and data.metrics is not None and not data.daily.empty
    charts: list[str] = []
    cards: list[dict[str, str]] = []
    groups: list[dict[str, Any]] = []
    trades: list[list[str]] = []
    tear: dict[str, Any] = {}
    if completed and data.metrics is not None:
        extended = extended if extended is not None else extended_metrics(data)
        tear = _tear_sheet(extended, currency)
        charts = [
            fig.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"chart-{name}",
                config={"displaylogo": False, "responsive": True},
            )
            for name, fig in all_charts(data, extended)
        ]
        cards = _cards(data.metrics, extended, currency)
        groups = [
            {
                "title": GROUP_TITLES[g],
                "rows": [{"label": LABELS[k], "value": format_metric(k, v, currency)} for k, v in values.items()]
                + (_trade_count_rows(data, currency) if g == "trading" else []),
            }
            for g, values in data.metrics.items()
        ]
        trades = [_trade_row(t) for t in data.trades.itertuples(index=False)]
    return (
        environment(TEMPLATES)
        .get_template("report.html.j2")
        .render(
            backtest_id=data.backtest_id,
            status=data.status,
            error_message=data.error_message,
            config=data.configuration,
            config_rows=_config_rows(_with_resolved_benchmark(data)),
            cards=cards,
            tear=tear,
            metric_groups=groups,
            charts=charts,
            plotly_js=plotly.offline.get_plotlyjs() if charts else "",
            warnings=data.warnings,
            trades=trades,
            trade_headers=[
                "Instrument",
                "Side",
                f"Entry ({TIME_ZONE})",
                "Entry price",
                f"Exit ({TIME_ZONE})",
                "Exit price",
                "Quantity",
                "Commission",
                "Slippage",
                "P&L",
                "P&L %",
            ],
            generated_at=generated_at.isoformat(timespec="seconds"),
            timeframe=data.timeframe,
            time_zone=TIME_ZONE,
        )
    )


def _cards(
    metrics: dict[str, dict[str, float | None]], extended: dict[str, Any], currency: str
) -> list[dict[str, str]]:
    """The headline tiles. Returns are coloured against the benchmark when there is one (a strategy that made
    40% while the benchmark made 166% is red), else against zero; the benchmark's own return is not coloured."""
    bench = metrics["benchmark"].get("benchmark_return")
    excess = (extended.get("ratios") or {}).get("excess_return")
    cards = []
    for group, name in HEADLINE:
        value = metrics[group].get(name)
        if value is None or name in {"volatility", "benchmark_return"}:
            css = ""
        elif name in {"total_return", "cagr"} and bench is not None and excess is not None:
            css = "pos" if excess >= 0 else "neg"
        else:
            css = "pos" if value >= 0 else "neg"
        cards.append({"label": LABELS[name], "value": format_metric(name, value, currency), "css": css})
    if excess is not None:
        cards.append(
            {
                "label": "Excess return (vs benchmark)",
                "value": format_metric("total_return", excess),
                "css": "pos" if excess >= 0 else "neg",
            }
        )
    return cards


def _ratio(value: float | None, kind: str = "ratio", currency: str = "USD") -> str:
    if value is None:
        return "n/a"
    if kind == "percent":
        return percent_text(value, 2)
    if kind == "money":
        return f"{value:,.2f} {currency}"
    if kind == "days":
        return f"{value:.1f} days"
    return f"{value:.2f}"


def _tear_sheet(extended: dict[str, Any], currency: str) -> dict[str, Any]:
    """The extended figures as the report's rows and tables (strings)."""
    if not extended:
        return {}
    r, e, c, t = extended["ratios"], extended["exposure"], extended["costs"], extended["turnover"]
    risk = [
        ("Calmar ratio", _ratio(r["calmar_ratio"])),
        ("Excess return (vs benchmark)", _ratio(r["excess_return"], "percent")),
        ("Information ratio (annualised)", _ratio(r["information_ratio"])),
        ("Skew (daily returns)", _ratio(r["skew"])),
        ("Kurtosis (excess, daily returns)", _ratio(r["kurtosis"])),
        ("Daily VaR (95%, historical)", _ratio(r["daily_var_95"], "percent")),
        ("Daily CVaR (95%, historical)", _ratio(r["daily_cvar_95"], "percent")),
    ]
    activity = [
        ("Time in the market", _ratio(e["time_in_market"], "percent")),
        ("Average gross leverage", _ratio(e["average_gross_leverage"], "percent")),
        ("Highest gross leverage", _ratio(e["max_gross_leverage"], "percent")),
        ("Average net exposure", _ratio(e["average_net_exposure"], "percent")),
        ("Traded value", _ratio(t["traded_value"], "money", currency)),
        ("Turnover (annual)", _ratio(t["annual_turnover"], "percent")),
        ("Total commission", _ratio(c["commission"], "money", currency)),
        ("Total slippage", _ratio(c["slippage"], "money", currency)),
        ("Total costs", _ratio(c["total"], "money", currency)),
        ("Average holding period", _ratio(extended["average_holding_days"], "days")),
    ]
    drawdowns = [
        [
            _ratio(d["depth"], "percent"),
            d["peak"],
            d["trough"],
            d["recovery"] or "not recovered",
            str(d["days"]),
        ]
        for d in extended["worst_drawdowns"]
    ]
    years = [
        [
            str(y["year"]),
            _ratio(y["strategy"], "percent"),
            _ratio(y["benchmark"], "percent"),
            _ratio(y["excess"], "percent"),
        ]
        for y in extended["yearly_returns"]
    ]
    instruments = [
        [
            i["instrument_id"],
            str(i["trades"]),
            str(i["open"]),
            str(i["winning"]),
            _ratio(i["pnl"], "money", currency),
            _ratio(i["commission"], "money", currency),
            _ratio(i["slippage"], "money", currency),
            _ratio(i["avg_holding_days"], "days"),
        ]
        for i in extended["by_instrument"]
    ]
    return {"risk": risk, "activity": activity, "drawdowns": drawdowns, "years": years, "instruments": instruments}


def _trade_count_rows(data: ReportData, currency: str) -> list[dict[str, str]]:
    """The trading group's counts: the statistics above are over the closed trades; open ones are apart."""
    return [
        {"label": "Closed trades", "value": str(data.trades_count)},
        {
            "label": "Open at the end",
            "value": f"{data.open_trades} (marked P&L {float(data.open_pnl):,.2f} {currency})",
        },
    ]


def _with_resolved_benchmark(data: ReportData) -> dict[str, Any]:
    """The configuration, its benchmark_symbol followed by the instrument it resolved to."""
    config = dict(data.configuration)
    if data.benchmark_instrument_id and config.get("benchmark_symbol") != data.benchmark_instrument_id:
        config["benchmark_symbol"] = f"{config.get('benchmark_symbol', '')} ({data.benchmark_instrument_id})"
    return config


def _trade_row(t: Any) -> list[str]:
    def when(v: Any) -> str:  # with its zone: "2024-01-02 21:00 UTC"
        if v is None or pd.isna(v):
            return ""
        stamp = pd.Timestamp(v)
        stamp = stamp.tz_localize(TIME_ZONE) if stamp.tz is None else stamp.tz_convert(TIME_ZONE)
        return str(stamp.strftime("%Y-%m-%d %H:%M %Z"))

    def num(v: Any, fmt: str = "{:,.2f}") -> str:
        return "" if v is None or pd.isna(v) else fmt.format(float(v))

    return [
        t.instrument_id,
        t.side,
        when(t.entry_time),
        num(t.entry_price),
        when(t.exit_time),
        num(t.exit_price),
        str(t.quantity),
        num(t.commission),
        num(t.slippage),
        num(t.pnl),
        num(t.pnl_pct, "{:.2f}%"),
    ]


def render_trades_csv(data: ReportData) -> str:
    buffer = io.StringIO()
    data.trades.reindex(columns=TRADE_COLUMNS).to_csv(buffer, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    return buffer.getvalue()


def render_portfolio_csv(data: ReportData) -> str:
    frame = data.daily.reindex(columns=PORTFOLIO_COLUMNS).copy()
    frame["positions"] = frame["positions"].map(lambda p: json.dumps(p, sort_keys=True))
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, date_format="%Y-%m-%dT%H:%M:%SZ", quoting=csv.QUOTE_MINIMAL)
    return buffer.getvalue()


def render_json(data: ReportData, generated_at: datetime, extended: dict[str, Any] | None = None) -> str:
    """result.json; `extended`: the tear sheet's figures when the caller has them already (else computed)."""
    completed = data.status == BacktestStatus.COMPLETED and not data.daily.empty
    if completed and extended is None:
        extended = extended_metrics(data)
    document = {
        "backtest_id": str(data.backtest_id),
        "status": data.status,
        "error_message": data.error_message,
        "configuration": data.configuration,
        "metrics": data.metrics,
        # the tear sheet's further figures (services.reporting.domain.tearsheet); the data model's are in metrics
        "extended": extended if completed else None,
        "warnings": data.warnings,
        "timeframe": data.timeframe,
        "time_zone": TIME_ZONE,
        "trades_count": data.trades_count,
        "open_trades": data.open_trades,
        "open_pnl": data.open_pnl,
        "benchmark_instrument_id": data.benchmark_instrument_id,
        "started_at": data.started_at,
        "completed_at": data.completed_at,
        "generated_at": generated_at,
    }
    return json.dumps(document, indent=2, sort_keys=True, default=str)
