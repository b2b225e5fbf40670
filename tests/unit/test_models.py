"""Every validation rule of the data model on one object: a bad value fails with the field and the rule named."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.contracts.models import (
    STRATEGY_TRANSITIONS,
    BacktestConfiguration,
    BacktestResult,
    BacktestStatus,
    Bar,
    CommissionModel,
    DomainError,
    IllegalTransitionError,
    Instrument,
    ParameterError,
    PerformanceMetrics,
    PerformanceReport,
    ReadOnlyError,
    StrategyStatus,
    Trade,
    TradingHours,
    TradingStrategy,
    next_strategy_status,
    sha256_of_file,
    validate_parameters,
    verify_report_file,
)

NOW = datetime(2024, 1, 2, 15, tzinfo=UTC)


def _fails(model: type[Any], data: dict[str, Any], *needles: str) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    text = str(info.value)
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text}"


# --- Instrument -------------------------------------------------------------------------------------
INSTRUMENT = {
    "id": "AAPL.NASDAQ",
    "symbol": "AAPL",
    "exchange": "NASDAQ",
    "asset_class": "EQUITY",
    "currency": "USD",
    "tick_size": "0.01",
    "lot_size": 1,
    "margin_requirement": "25",
}


def test_good_instrument_and_default_us_hours() -> None:
    inst = Instrument.model_validate(INSTRUMENT)
    assert inst.trading_hours.contains(datetime(2024, 1, 2, 14, 30, tzinfo=UTC))  # 09:30 New York
    assert not inst.trading_hours.contains(datetime(2024, 1, 2, 21, 0, tzinfo=UTC))  # 16:00: closed
    assert not inst.trading_hours.contains(datetime(2024, 1, 6, 15, 0, tzinfo=UTC))  # Saturday


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"tick_size": "0"}, ["tick_size", "greater than 0"]),
        ({"tick_size": "-0.01"}, ["tick_size", "greater than 0"]),
        ({"currency": "CHF"}, ["currency", "USD, EUR, GBP, JPY"]),
        ({"id": "AAPL.NYSE"}, ["id must be SYMBOL.EXCHANGE", "AAPL.NASDAQ"]),
        ({"symbol": "aapl", "id": "aapl.NASDAQ"}, ["symbol", "pattern"]),
        ({"lot_size": 0}, ["lot_size", "greater than 0"]),
        ({"margin_requirement": "0"}, ["margin_requirement", "greater than 0"]),
        ({"margin_requirement": "101"}, ["margin_requirement", "less than or equal to 100"]),
        ({"asset_class": "CRYPTO"}, ["asset_class"]),
        ({"trading_hours": {"timezone": "Mars/Base"}}, ["timezone must be an IANA zone"]),
        ({"trading_hours": {"sessions": [{"open": "16:00", "close": "09:30"}]}}, ["open must be before close"]),
    ],
)
def test_instrument_rules(change: dict[str, Any], needles: list[str]) -> None:
    _fails(Instrument, {**INSTRUMENT, **change}, *needles)


def test_trading_hours_weekdays_must_be_valid() -> None:
    with pytest.raises(ValidationError, match="weekdays"):
        TradingHours(weekdays=[7])


# --- Bar -------------------------------------------------------------------------------------------
BAR = {
    "instrument_id": "AAPL.NASDAQ",
    "timestamp": "2024-01-02T14:30:00Z",
    "open": "100",
    "high": "102",
    "low": "99",
    "close": "101",
    "volume": 10,
    "timeframe": "BAR_1MIN",
}


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"high": "100.5"}, ["high must be >= max(open, close)", "high=100.5"]),
        ({"low": "100.5"}, ["low must be <= min(open, close)", "low=100.5"]),
        ({"volume": -1}, ["volume", "greater than or equal to 0"]),
        ({"open": "0"}, ["open", "greater than 0"]),
        ({"timestamp": "2024-01-02T14:30:00"}, ["timestamp needs a time zone"]),
        ({"timeframe": "BAR_2MIN"}, ["timeframe"]),
    ],
)
def test_bar_rules(change: dict[str, Any], needles: list[str]) -> None:
    _fails(Bar, {**BAR, **change}, *needles)


def test_bar_timestamps_are_utc() -> None:
    bar = Bar.model_validate({**BAR, "timestamp": "2024-01-02T09:30:00-05:00"})
    assert bar.timestamp == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


# --- parameters and strategies ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("strategy_type", "params", "needle"),
    [
        ("SMA_CROSSOVER", {}, "parameters: at least one parameter is required"),
        ("SMA_CROSSOVER", {"fast_period": 30, "slow_period": 10}, "fast_period must be < slow_period"),
        ("SMA_CROSSOVER", {"fast_period": 0, "slow_period": 10}, "parameters.fast_period"),
        ("SMA_CROSSOVER", {"fast_period": 5, "slow_period": 10, "speed": 3}, "parameters.speed: unknown parameter"),
        ("MEAN_REVERSION", {"lookback": 20, "entry_z": 1, "exit_z": 2}, "exit_z must be < entry_z"),
        ("MEAN_REVERSION", {"lookback": 20, "entry_z": 0, "exit_z": 0}, "parameters.entry_z"),
        ("MOMENTUM", {"lookback": 20, "threshold": -0.1}, "parameters.threshold"),
        ("MOMENTUM", {"threshold": 0.1}, "parameters.lookback"),
    ],
)
def test_parameters_must_match_their_type(strategy_type: str, params: dict[str, Any], needle: str) -> None:
    with pytest.raises(ParameterError) as info:
        validate_parameters(strategy_type, params)
    assert needle in str(info.value)


def _strategy(**changes: Any) -> TradingStrategy:
    data: dict[str, Any] = {
        "id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "name": " SMA_Crossover_v1 ",
        "strategy_type": "SMA_CROSSOVER",
        "parameters": {"fast_period": 10, "slow_period": 30},
        "created_at": NOW,
        "updated_at": NOW,
    }
    return TradingStrategy.model_validate({**data, **changes})


def test_strategy_lifecycle() -> None:
    draft = _strategy()
    assert draft.name == "SMA_Crossover_v1"
    assert draft.parameters["allow_short"] is False  # typed: defaults filled in
    assert not draft.is_active
    edited = draft.edit(NOW, parameters={"fast_period": 5, "slow_period": 30})
    active = edited.activate(NOW)
    assert active.is_active
    with pytest.raises(DomainError, match="only DRAFT strategies can be edited"):
        active.edit(NOW, name="other")
    archived = active.archive(NOW)
    for change in (lambda s: s.edit(NOW, name="x"), lambda s: s.activate(NOW), lambda s: s.archive(NOW)):
        with pytest.raises(ReadOnlyError, match="ARCHIVED and read-only"):
            change(archived)


def test_strategy_name_and_parameters_are_validated() -> None:
    with pytest.raises(ValidationError, match="name"):
        _strategy(name="   ")
    with pytest.raises(ValidationError, match="fast_period must be < slow_period"):
        _strategy(parameters={"fast_period": 50, "slow_period": 30})


@pytest.mark.parametrize("current", list(StrategyStatus))
@pytest.mark.parametrize("target", list(StrategyStatus))
def test_strategy_state_machine(current: StrategyStatus, target: StrategyStatus) -> None:
    if target in STRATEGY_TRANSITIONS[current]:
        assert next_strategy_status(current, target) is target
    else:
        with pytest.raises(IllegalTransitionError, match=f"strategy cannot go from {current} to {target}"):
            next_strategy_status(current, target)


# --- configuration and commission ------------------------------------------------------------------
CONFIG = {
    "strategy_id": uuid.uuid4(),
    "instrument_ids": ["AAPL.NASDAQ"],
    "start_date": "2020-01-01",
    "end_date": "2020-12-31",
}


def test_configuration_defaults() -> None:
    config = BacktestConfiguration.model_validate(CONFIG)
    assert config.initial_capital == 100_000
    assert config.position_size_pct == 1
    assert config.benchmark_symbol == "SPY"
    assert config.commission_model.per_share == Decimal("0.005")
    assert config.commission_model.minimum == Decimal("1.00")
    assert config.commission_model.slippage_ticks == 1


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"end_date": "2019-12-31"}, ["end_date must be after start_date"]),
        ({"start_date": "2018-12-31"}, ["dates must be within 2019-01-01..2024-12-31"]),
        ({"end_date": "2025-01-02"}, ["dates must be within 2019-01-01..2024-12-31"]),
        ({"end_date": "2020-01-20"}, ["at least 30 trading days"]),
        ({"initial_capital": "999.99"}, ["initial_capital", "greater than or equal to 1000"]),
        ({"position_size_pct": "0.09"}, ["position_size_pct", "greater than or equal to 0.1"]),
        ({"position_size_pct": "10.01"}, ["position_size_pct", "less than or equal to 10"]),
        ({"instrument_ids": []}, ["instrument_ids", "at least 1 item"]),
        ({"instrument_ids": ["AAPL"]}, ["SYMBOL.EXCHANGE"]),
        ({"instrument_ids": ["AAPL.NASDAQ", "AAPL.NASDAQ"]}, ["must not repeat"]),
        ({"data_source": "YAHOO"}, ["data_source"]),
        (
            {"commission_model": {"type": "FIXED", "per_share": 0.01, "per_order": 1}},
            ["per_share does not apply to commission type FIXED"],
        ),
        ({"commission_model": {"type": "PERCENT"}}, ["percent is required for commission type PERCENT"]),
        ({"commission_model": {"type": "PER_SHARE", "per_share": -1}}, ["per_share", "greater than or equal to 0"]),
        ({"commission_model": {"slippage_ticks": -1}}, ["slippage_ticks"]),
    ],
)
def test_configuration_rules(change: dict[str, Any], needles: list[str]) -> None:
    _fails(BacktestConfiguration, {**CONFIG, **change}, *needles)


@pytest.mark.parametrize(
    ("model", "quantity", "price", "expected"),
    [
        ({}, 100, "50", "1.00"),
        ({}, 1000, "50", "5.00"),
        ({"type": "PERCENT", "percent": "0.1"}, 100, "122", "12.20"),
        ({"type": "FIXED", "per_order": "2.5"}, 7, "10", "2.50"),
    ],
)
def test_commission_for(model: dict[str, Any], quantity: int, price: str, expected: str) -> None:
    assert CommissionModel.model_validate(model).commission_for(quantity, Decimal(price)) == Decimal(expected)


# --- results ---------------------------------------------------------------------------------------
def _metrics(win_rate: float = 0.5, sharpe: float = 1.2) -> PerformanceMetrics:
    return PerformanceMetrics.model_validate(
        {
            "returns": {"total_return": 0.15, "cagr": 0.12, "annualized_return": 0.14},
            "risk": {"max_drawdown": -0.08, "sharpe_ratio": sharpe, "sortino_ratio": 2.1, "volatility": 0.16},
            "trading": {
                "win_rate": win_rate,
                "avg_win": 250.0,
                "avg_loss": -150.0,
                "profit_factor": 1.8,
                "expectancy": 50.0,
            },
            "benchmark": {"benchmark_return": 0.10, "alpha": 0.05, "beta": 0.8},
        }
    )


def _result() -> BacktestResult:
    return BacktestResult(id=uuid.uuid4(), configuration_id=uuid.uuid4())


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"status": "COMPLETED", "completed_at": NOW}, "metrics: completed results must have all metrics"),
        ({"status": "FAILED"}, "error_message: a failed result must say why"),
        ({"trades_count": 3, "winning_trades": 2, "losing_trades": 2}, "winning_trades + losing_trades"),
        ({"trades_count": 4, "winning_trades": 1, "metrics": _metrics(0.5)}, "win_rate must equal"),
        ({"started_at": NOW, "completed_at": NOW - timedelta(1)}, "completed_at must not be before started_at"),
    ],
)
def test_result_rules(data: dict[str, Any], needle: str) -> None:
    _fails(BacktestResult, {"id": uuid.uuid4(), "configuration_id": uuid.uuid4(), **data}, needle)


def test_metrics_need_every_key_and_finite_values() -> None:
    good = _metrics().model_dump()
    del good["risk"]["volatility"]
    _fails(PerformanceMetrics, good, "risk.volatility", "Field required")
    bad = _metrics().model_dump()
    bad["returns"]["cagr"] = float("inf")
    _fails(PerformanceMetrics, bad, "must be a finite number")
    extra = _metrics().model_dump()
    extra["returns"]["bogus"] = 1
    _fails(PerformanceMetrics, extra, "returns.bogus")


def test_unrealistic_sharpe_is_kept_and_flagged() -> None:
    result = BacktestResult(
        id=uuid.uuid4(),
        configuration_id=uuid.uuid4(),
        status=BacktestStatus.COMPLETED,
        completed_at=NOW,
        trades_count=2,
        winning_trades=1,
        metrics=_metrics(0.5, sharpe=7.2),
    )
    assert result.metrics is not None
    assert result.metrics.risk.sharpe_ratio == 7.2
    assert result.sharpe_unrealistic
    assert "sharpe_ratio 7.20 is outside the realistic range -3..5" in result.warnings


# --- trades --------------------------------------------------------------------------
TRADE = {
    "instrument_id": "AAPL.NASDAQ",
    "entry_time": NOW,
    "entry_price": "100",
    "quantity": 10,
    "side": "LONG",
    "commission": "1",
}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"entry_price": "0"}, "entry_price"),
        ({"quantity": 0}, "quantity"),
        ({"commission": "-1"}, "commission"),
        ({"pnl": "5"}, "PnL is calculated only when exit_price is set"),
        ({"exit_price": "110"}, "exit_time and exit_price"),
        ({"exit_time": NOW - timedelta(1), "exit_price": "99"}, "exit_time must not be before entry_time"),
    ],
)
def test_trade_rules(change: dict[str, Any], needle: str) -> None:
    _fails(Trade, {**TRADE, **change}, needle)


# --- reports ---------------------------------------------------------------------------------------
def test_report_hash_must_match_the_file(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text("<html>ok</html>")
    report = PerformanceReport(
        id=uuid.uuid4(),
        backtest_result_id=uuid.uuid4(),
        report_type="HTML",
        generated_at=NOW,
        file_path=str(path),
        content_hash=sha256_of_file(path),
    )
    verify_report_file(report)
    path.write_text("<html>tampered</html>")
    with pytest.raises(DomainError, match="content hash mismatch"):
        verify_report_file(report)
    path.unlink()
    with pytest.raises(DomainError, match="file missing at"):
        verify_report_file(report)
    _fails(PerformanceReport, {**report.model_dump(), "content_hash": "ABC"}, "content_hash")


def test_response_models_follow_the_seed() -> None:
    from shared.contracts.models import BacktestStatusResponse

    with pytest.raises(ValidationError, match="progress_pct"):
        BacktestStatusResponse(
            id=uuid.uuid4(), status="RUNNING", progress_pct=101, estimated_completion=None, error_message=None
        )
    assert date(2024, 1, 1)  # keeps the date import honest for readers of the dates above


def test_a_session_time_with_an_offset_is_refused_not_compared() -> None:
    from shared.contracts.models.instrument import Session

    with pytest.raises(ValidationError, match="without an offset"):
        Session.model_validate({"open": "09:30:00Z", "close": "16:00:00"})
