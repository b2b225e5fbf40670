"""Run manifests: the digests change exactly when what they cover changes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import pytest

from bts.manifests import manifest_checks
from services.engine import manifest as engine_manifest
from services.engine.domain.ledger import TradeRecord
from services.engine.domain.manifest import bars_sha256, canonical_floats, canonical_number, json_sha256, trades_sha256
from services.engine.job import BacktestJob
from services.engine.manifest import run_manifest
from shared.contracts.models.manifest import RunManifest


def _bars(days: int = 40) -> pd.DataFrame:
    index = pd.date_range("2021-01-04 21:00", periods=days, freq="B", tz="UTC")
    closes = [Decimal("100.00") + Decimal(i) / 4 for i in range(days)]
    return pd.DataFrame(
        {
            "open": closes,
            "high": [c + 1 for c in closes],
            "low": [c - 1 for c in closes],
            "close": closes,
            "volume": [1_000 + i for i in range(days)],
        },
        index=index,
    )


def test_the_same_bars_give_the_same_digest_whatever_their_representation() -> None:
    bars = _bars()
    assert bars_sha256(bars) == bars_sha256(_bars())
    as_floats = bars.astype({"open": float, "high": float, "low": float, "close": float})
    assert bars_sha256(as_floats) == bars_sha256(bars)  # 100.25 is 100.25, stored as Decimal or float
    assert bars_sha256(bars.iloc[::-1]) == bars_sha256(bars)  # encoded in time order


def _set(column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        changed = frame.copy()
        changed.iloc[17, changed.columns.get_loc(column)] = value
        return changed

    return change


@pytest.mark.parametrize(
    "change",
    [
        _set("close", Decimal("104.26")),  # one cent on one bar
        _set("open", Decimal("104.24")),
        _set("high", Decimal("105.26")),
        _set("low", Decimal("103.24")),
        _set("volume", 1_018),
        lambda f: f.set_axis(f.index.where(f.index != f.index[17], f.index[17] + pd.Timedelta(minutes=1))),
        lambda f: f.drop(f.index[17]),
    ],
    ids=["close", "open", "high", "low", "volume", "timestamp", "missing bar"],
)
def test_changing_one_bar_changes_the_digest(change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    bars = _bars()
    assert bars_sha256(change(bars)) != bars_sha256(bars)


def test_the_bar_encoding_is_the_documented_one() -> None:
    bars = _bars(2)
    expected = hashlib.sha256(
        b"bts-bars-v1\n1609794000000000000,100,101,99,100,1000\n1609880400000000000,100.25,101.25,99.25,100.25,1001\n"
    ).hexdigest()
    assert bars_sha256(bars) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("100.10"), "100.1"),
        (Decimal("100.00"), "100"),
        (Decimal("1E+2"), "100"),
        (0.1, "0.1"),
        (Decimal("-0.00"), "0"),
        (7, "7"),
        (None, ""),
    ],
)
def test_numbers_are_plain_decimals(value: object, text: str) -> None:
    assert canonical_number(value) == text


def _trade(**changes: object) -> TradeRecord:
    trade = TradeRecord(
        "AAA.NASDAQ",
        "LONG",
        pd.Timestamp("2021-01-04 21:00", tz="UTC"),
        Decimal("100.01"),
        50,
        Decimal("2.00"),
        Decimal("1.00"),
        pd.Timestamp("2021-02-01 21:00", tz="UTC"),
        Decimal("104.99"),
        Decimal("247.00"),
        Decimal("4.9395"),
    )
    return replace(trade, **changes)  # type: ignore[arg-type]


def test_the_trades_digest_covers_every_field_and_the_order() -> None:
    base = [_trade(), _trade(instrument_id="BBB.NASDAQ", exit_time=None, exit_price=None, pnl=None, pnl_pct=None)]
    assert trades_sha256(base) == trades_sha256([_trade(), base[1]])
    assert trades_sha256([_trade(pnl=Decimal("247.01")), base[1]]) != trades_sha256(base)
    assert trades_sha256([_trade(quantity=51), base[1]]) != trades_sha256(base)
    assert trades_sha256(base[::-1]) != trades_sha256(base)
    assert trades_sha256([]) != trades_sha256(base[:1])


def test_json_digests_ignore_key_order_and_decimal_spelling() -> None:
    assert json_sha256({"a": Decimal("1.50"), "b": [1, 2]}) == json_sha256({"b": [1, 2], "a": Decimal("1.5")})
    assert json_sha256({"a": Decimal("1.5")}) != json_sha256({"a": Decimal("1.6")})


def _job(**changes: object) -> BacktestJob:
    fields: dict[str, object] = {
        "backtest_id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "configuration_id": uuid.uuid4(),
        "strategy_type": "SMA_CROSSOVER",
        "parameters": {"fast_period": 5, "slow_period": 20},
        "instrument_ids": ["AAA.NASDAQ"],
        "start_date": date(2021, 1, 1),
        "end_date": date(2021, 12, 31),
        "initial_capital": Decimal("100000.00"),
        "position_size_pct": Decimal(5),
        "commission_model": {"type": "PER_SHARE", "per_share": "0.0050", "minimum": "1", "slippage_ticks": 1},
        "benchmark_symbol": "SPY",
    }
    return BacktestJob(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_configuration_digest_covers_the_run_not_its_ids() -> None:
    first = RunManifest.model_validate(run_manifest(_job(), {"AAA.NASDAQ": _bars()}, trades=[_trade()]))
    again = RunManifest.model_validate(
        run_manifest(
            _job(
                initial_capital=Decimal(100_000),
                parameters={"slow_period": 20, "fast_period": 5, "allow_short": False},
                commission_model={"type": "PER_SHARE", "per_share": "0.005", "minimum": "1.00", "slippage_ticks": 1},
            ),
            {"AAA.NASDAQ": _bars()},
            trades=[_trade()],
        )
    )
    assert first.configuration_sha256 == again.configuration_sha256
    assert first.parameters_sha256 == again.parameters_sha256
    assert first.parameters == {"fast_period": 5, "slow_period": 20, "allow_short": False}
    assert first.data == again.data
    assert first.data["AAA.NASDAQ"].bars == 40
    assert first.trades_sha256 == again.trades_sha256 == trades_sha256([_trade()])
    assert first.strategy_distribution == "bts"
    for changed in (
        _job(initial_capital=Decimal(100_001)),
        _job(parameters={"fast_period": 6, "slow_period": 20}),
        _job(end_date=date(2021, 12, 30)),
        _job(instrument_ids=["AAA.NASDAQ", "BBB.NASDAQ"]),
    ):
        assert RunManifest.model_validate(run_manifest(changed)).configuration_sha256 != first.configuration_sha256


def test_a_failed_run_has_a_manifest_without_trades_and_keeps_bad_parameters_as_asked() -> None:
    failed = RunManifest.model_validate(run_manifest(_job(strategy_type="NOT_INSTALLED", parameters={"x": 1})))
    assert (failed.trades_sha256, failed.trades_count, failed.data) == (None, None, {})
    assert failed.parameters == {"x": 1}
    assert failed.strategy_distribution is None


def test_versions_and_the_commit_set_at_build_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTS_GIT_COMMIT", "0123456789abcdef")
    engine_manifest.provenance.cache_clear()
    try:
        manifest = RunManifest.model_validate(run_manifest(_job()))
    finally:
        engine_manifest.provenance.cache_clear()
    assert manifest.git_commit == "0123456789abcdef"
    assert manifest.code_version == f"{manifest.engine_version}+0123456789abcdef"
    assert manifest.nautilus_trader_version == "1.221.0"
    assert manifest.engine_version == "0.1.0"


def test_reproduce_compares_manifests_input_by_input() -> None:
    original = run_manifest(_job(), {"AAA.NASDAQ": _bars()}, trades=[_trade()])
    changed_bars = _bars()
    changed_bars.iloc[3, 3] = Decimal("101.01")
    rerun = run_manifest(_job(), {"AAA.NASDAQ": changed_bars}, trades=[_trade(pnl=Decimal(1))])
    checks = {c.what: c.same for c in manifest_checks(original, rerun)}
    assert checks == {
        "bars AAA.NASDAQ": False,
        "benchmark closes": True,
        "data as of": True,
        "configuration": True,
        "parameters": True,
        "engine version": True,
        "NautilusTrader": True,
        "code version": True,
        "strategy package": True,
        "trades": False,
    }
    assert all(c.same for c in manifest_checks(original, original))
    later = run_manifest(_job(data_as_of=datetime(2026, 1, 2, tzinfo=UTC)), {"AAA.NASDAQ": _bars()}, trades=[_trade()])
    assert [c.what for c in manifest_checks(original, later) if not c.same] == ["data as of"]


def test_whole_float_columns_are_canonical_like_single_numbers() -> None:
    values = [100.0, 100.25, -0.0, 0.0, -5.5, 1e16, 1e-05, 123456789.125, 0.1 + 0.2, 2.5e-7, -1e22, 7.0]
    assert canonical_floats(values) == [canonical_number(v) for v in values]
    with pytest.raises(ValueError, match="not a finite number"):
        canonical_floats([float("nan")])
