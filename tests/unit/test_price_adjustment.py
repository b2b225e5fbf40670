"""Back-adjustment of raw bars (services.engine.domain.adjustment) against an independent pandas
re-implementation, on small real-shaped fixtures: a 5:1 and a 3:1 split, and a Yahoo file whose `Adj Close`
includes four cash dividends. Then a small SMA backtest on the adjusted series, engine against the plain
reference of test_engine_reference, trade by trade to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.engine.domain.adjustment import back_adjust
from shared.contracts.models.corporate_action import CorporateAction
from shared.contracts.models.enums import CorporateActionType, PriceAdjustment
from tests.unit.test_engine_reference import _engine, _reference

FIXTURES = Path(__file__).parents[1] / "fixtures" / "adjust"


def _yahoo(name: str) -> pd.DataFrame:
    """A fixture as the engine holds bars: lower-case columns, indexed by the session close (UTC)."""
    raw = pd.read_csv(FIXTURES / name)
    frame = raw.rename(columns=str.lower).rename(columns={"adj close": "adj_close"})
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("date")) + pd.Timedelta(hours=21)).tz_localize("UTC")
    frame["volume"] = frame["volume"].astype(float)
    return frame


def _actions(name: str) -> list[CorporateAction]:
    table = pd.read_csv(FIXTURES / name, dtype=str, keep_default_na=False)
    return [
        CorporateAction.model_validate({k: v for k, v in row.items() if v != ""}) for row in table.to_dict("records")
    ]


def _sessions(frame: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(frame.index.tz_convert(None).normalize())


def _pandas_adjusted(frame: pd.DataFrame, actions: list[CorporateAction], dividends: bool) -> pd.DataFrame:
    """Written from the definition, separately: one multiplier per ex_date, carried back by a reversed cumprod."""
    day = frame.index.tz_convert(None).normalize()
    step = pd.Series(1.0, index=day)  # the factor an action puts on every bar before its ex_date
    split_step = pd.Series(1.0, index=day)
    for action in actions:
        ex = pd.Timestamp(action.ex_date)
        earlier = day[day < ex]
        if earlier.empty or len(earlier) == len(day):  # before the first bar or after the last: nothing to do
            continue
        last_before = earlier[-1]
        if action.type is CorporateActionType.SPLIT:
            step[last_before] /= float(action.value)
            split_step[last_before] *= float(action.value)
        elif dividends:
            step[last_before] *= 1 - float(action.value) / frame["close"].to_numpy()[day.get_loc(last_before)]
    price = step[::-1].cumprod()[::-1].to_numpy()
    volume = split_step[::-1].cumprod()[::-1].to_numpy()
    out = frame[["open", "high", "low", "close", "volume"]].copy()
    for column in ("open", "high", "low", "close"):
        out[column] = out[column] * price
    out["volume"] = out["volume"] * volume
    return out


@pytest.mark.parametrize(
    ("name", "ex_date", "ratio"),
    [
        ("raw_split_5_1_2020.csv", date(2020, 8, 31), 5),
        ("raw_split_3_1_2022.csv", date(2022, 8, 25), 3),
    ],
)
def test_splits_make_the_raw_series_continuous(name: str, ex_date: date, ratio: int) -> None:
    raw = _yahoo(name)
    actions = _actions("actions_2020_2022.csv")
    adjusted = back_adjust(raw, _sessions(raw), actions, PriceAdjustment.SPLITS)
    expected = _pandas_adjusted(raw, actions, dividends=False)
    pd.testing.assert_frame_equal(adjusted.frame[expected.columns], expected, rtol=1e-12)
    assert adjusted.splits_applied == 1  # the other split is outside this file
    moves = raw["close"].pct_change()
    at = raw.index.tz_convert(None).normalize().get_loc(pd.Timestamp(ex_date))
    assert moves.iloc[at] < -(1 - 1 / ratio) + 0.1  # raw: the -67% / -80% "crash" of a split
    assert adjusted.frame["close"].pct_change().abs().max() < 0.15  # adjusted: continuous
    # the latest bars keep their traded prices; earlier ones are in today's shares, volume times the ratio
    assert adjusted.frame["close"].iloc[-1] == raw["close"].iloc[-1]
    assert adjusted.frame["volume"].iloc[0] == raw["volume"].iloc[0] * ratio
    assert raw["close"].iloc[0] > 500  # the input frame is left as it was


def test_dividends_reproduce_the_vendors_adj_close() -> None:
    raw = _yahoo("adj_close_dividends_2023.csv")
    actions = _actions("dividends_2023.csv")
    adjusted = back_adjust(raw, _sessions(raw), actions, PriceAdjustment.SPLITS_AND_DIVIDENDS)
    assert adjusted.dividends_applied == 4
    np.testing.assert_allclose(adjusted.frame["close"], raw["adj_close"], rtol=1e-6)
    pd.testing.assert_frame_equal(
        adjusted.frame[["open", "high", "low", "close", "volume"]], _pandas_adjusted(raw, actions, dividends=True)
    )
    pd.testing.assert_series_equal(adjusted.frame["volume"], raw["volume"])  # a dividend leaves volume alone
    # SPLITS alone ignores the dividends; NONE changes nothing
    assert back_adjust(raw, _sessions(raw), actions, PriceAdjustment.SPLITS).frame["close"].equals(raw["close"])
    assert back_adjust(raw, _sessions(raw), actions, PriceAdjustment.NONE).frame is raw


def test_a_dividend_that_cannot_apply_is_reported_not_applied() -> None:
    raw = _yahoo("adj_close_dividends_2023.csv")
    too_big = CorporateAction(type=CorporateActionType.DIVIDEND, ex_date=date(2023, 3, 1), amount=Decimal(10_000))
    before_all = CorporateAction(type=CorporateActionType.SPLIT, ex_date=date(2020, 1, 2), ratio=Decimal(2))
    adjusted = back_adjust(raw, _sessions(raw), [too_big, before_all], PriceAdjustment.SPLITS_AND_DIVIDENDS)
    assert adjusted.dividends_applied == 0
    assert adjusted.splits_applied == 0
    assert "not below the previous close" in adjusted.skipped[0]
    assert adjusted.frame["close"].equals(raw["close"])


@pytest.mark.parametrize(
    "values",
    [
        {"type": "SPLIT", "ex_date": "2020-08-31"},
        {"type": "SPLIT", "ex_date": "2020-08-31", "ratio": 5, "amount": 1},
        {"type": "DIVIDEND", "ex_date": "2020-08-31", "ratio": 5},
        {"type": "SPLIT", "ex_date": "2020-08-31", "ratio": 0},
        {"type": "SPLIT", "ex_date": "2020-08-31", "ratio": 1},
        {"type": "MERGER", "ex_date": "2020-08-31", "ratio": 2},
    ],
)
def test_a_malformed_action_is_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"ratio|amount|type"):
        CorporateAction.model_validate(values)


def test_an_sma_backtest_on_the_adjusted_series_matches_the_reference_to_the_cent() -> None:
    raw = _yahoo("raw_split_5_1_2020.csv")
    actions = _actions("actions_2020_2022.csv")
    ours = back_adjust(raw, _sessions(raw), actions, PriceAdjustment.SPLITS).frame
    theirs = _pandas_adjusted(raw, actions, dividends=False)
    # bar prices are rounded to the tick before the strategy sees them (the engine's rule): both sides alike
    bars, reference_bars = ours.round(2), theirs.round(2)
    engine = [(f.ts, f.side, f.quantity, f.price, f.commission) for f in _engine(bars, 5, 20, 10, 1)]
    reference = _reference(reference_bars, 5, 20, 10, 1)
    assert len(reference) >= 4
    assert engine == reference
    # on the raw series the split reads as a crash: a long position across it shows a loss it never had
    raw_fills = _reference(raw.round(2), 5, 20, 10, 1)
    assert raw_fills != reference
