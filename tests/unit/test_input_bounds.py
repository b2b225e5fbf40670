"""Every number a client sends has bounds: strategy parameters, commission fields, instrument specs, sweep
counts, JSON numbers that are not finite, and the time range of a market-data read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from services.api.domain.time_range import LATEST, TimeRange, time_range
from services.api.strict_json import non_finite_numbers
from services.api.sweep_schemas import MAX_COUNT, PrescreenIn
from shared.contracts.models import CommissionModel, Instrument
from shared.contracts.models.parameters import MAX_BARS, MomentumParameters, SmaCrossoverParameters
from shared.strategy_types import ParameterError, get_strategy_type


def _instrument(**changes: Any) -> dict[str, Any]:
    return {
        "id": "AAA.NASDAQ",
        "symbol": "AAA",
        "exchange": "NASDAQ",
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": 1,
        "margin_requirement": "25",
        **changes,
    }


@pytest.mark.parametrize(
    "changes", [{"lot_size": 10**30}, {"tick_size": "1E+300"}, {"tick_size": "1E-300"}, {"tick_size": "NaN"}]
)
def test_instrument_specs_out_of_bounds_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Instrument.model_validate(_instrument(**changes))


def test_a_normal_instrument_passes() -> None:
    assert Instrument.model_validate(_instrument(tick_size="0.0001", lot_size=100)).lot_size == 100


@pytest.mark.parametrize(
    "body",
    [
        {"type": "PER_SHARE", "per_share": "1e30"},
        {"type": "PERCENT", "percent": "101"},
        {"type": "FIXED", "per_order": "Infinity"},
        {"type": "FIXED", "per_order": "1", "slippage_ticks": 10**18},
        {"type": "PER_SHARE", "minimum": "1E-40"},
    ],
)
def test_commission_fields_out_of_bounds_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CommissionModel.model_validate(body)


def test_commission_within_bounds_passes() -> None:
    assert CommissionModel.model_validate({"type": "PERCENT", "percent": "0.1"}).percent == Decimal("0.1")


@pytest.mark.parametrize(
    ("strategy_type", "parameters"),
    [
        ("MOMENTUM", {"lookback": 20, "threshold": float("inf")}),
        ("MOMENTUM", {"lookback": 20, "threshold": float("nan")}),
        ("MOMENTUM", {"lookback": 20, "threshold": 1e300}),
        ("SMA_CROSSOVER", {"fast_period": 5, "slow_period": MAX_BARS + 1}),
        ("MEAN_REVERSION", {"lookback": 20, "entry_z": float("inf"), "exit_z": 0.5}),
    ],
)
def test_strategy_parameters_out_of_bounds_name_the_field(strategy_type: str, parameters: dict[str, Any]) -> None:
    with pytest.raises(ParameterError) as raised:
        get_strategy_type(strategy_type).validate(parameters)
    assert all(field.startswith("parameters.") for field, _ in raised.value.errors)


def test_strategy_parameters_within_bounds_pass() -> None:
    assert SmaCrossoverParameters(fast_period=5, slow_period=MAX_BARS).slow_period == MAX_BARS
    assert MomentumParameters(lookback=5, threshold=0.02).threshold == 0.02


def test_prescreen_top_k_is_bounded() -> None:
    with pytest.raises(ValidationError):
        PrescreenIn(top_k=10**18)
    assert PrescreenIn(top_k=MAX_COUNT).top_k == MAX_COUNT


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"parameters": {"threshold": 1e999}}', "body.parameters.threshold"),
        (b'{"parameters": {"threshold": Infinity}}', "body.parameters.threshold"),
        (b'{"grid": {"x": [1, NaN]}}', "body.grid.x.1"),
        (b'{"a": -Infinity}', "body.a"),
        (b'{"lot_size": ' + b"9" * 5000 + b"}", "body.lot_size"),
    ],
)
def test_non_finite_json_numbers_are_found_with_their_path(body: bytes, field: str) -> None:
    assert [e.field for e in non_finite_numbers(body)] == [field]


def test_finite_json_and_non_json_pass_through() -> None:
    assert non_finite_numbers(b'{"a": 1e300, "b": [1, 2.5, "Infinity"], "c": 12345678901234567890}') == []
    assert non_finite_numbers(b"not json") == []  # the route's own parser says what is wrong


def test_a_time_range_beyond_representable_dates_names_the_field() -> None:
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1)))
    found = time_range(datetime(2024, 1, 1, tzinfo=UTC), late, "query")
    assert isinstance(found, list)
    assert [p.field for p in found] == ["query.end"]
    found = time_range(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), LATEST, "query")
    assert isinstance(found, list)
    assert [p.field for p in found] == ["query.start"]


def test_a_time_range_must_move_forward_and_is_returned_in_utc() -> None:
    start = datetime(2024, 1, 2, 9, 30)
    found = time_range(start, start, "body")
    assert isinstance(found, list)
    assert found[0].field == "body.end"
    ok = time_range(start, datetime(2024, 1, 2, 12, tzinfo=timezone(timedelta(hours=1))), "body")
    assert ok == TimeRange(start.replace(tzinfo=UTC), datetime(2024, 1, 2, 11, tzinfo=UTC))


def _echo_app() -> Any:
    from fastapi import FastAPI

    from services.api.strict_json import StrictJsonMiddleware

    app = FastAPI()

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    app.add_middleware(StrictJsonMiddleware)
    return app


@pytest.mark.parametrize("content_type", ["application/json", "application/merge-patch+json"])
async def test_the_middleware_refuses_non_finite_numbers_and_replays_good_bodies(content_type: str) -> None:
    headers = {"content-type": content_type}
    transport = httpx.ASGITransport(app=_echo_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        refused = await client.post("/echo", content=b'{"x": {"y": NaN}}', headers=headers)
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in refused.json()["errors"]] == ["body.x.y"]
        if content_type == "application/json":  # the route itself takes plain JSON only
            passed = await client.post("/echo", content=b'{"x": {"y": 1.5}}', headers=headers)
            assert passed.status_code == 200
            assert passed.json() == {"x": {"y": 1.5}}
