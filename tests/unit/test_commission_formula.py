"""One commission formula: the request's model and the engine's Nautilus fee model agree to the cent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from services.engine.domain.fees import CommissionFeeModel, commission
from services.engine.inputs import run_input
from services.engine.job import BacktestJob
from shared.contracts.models.commission import CommissionModel, commission_amount

MODELS = [
    {"type": "PER_SHARE"},
    {"type": "PER_SHARE", "per_share": "0.0035", "minimum": "0.35"},
    {"type": "PERCENT", "percent": "0.1", "minimum": "2"},
    {"type": "FIXED", "per_order": "4.99"},
]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(("quantity", "price"), [(1, "9.99"), (150, "122.37"), (12_345, "0.5")])
def test_the_fee_model_charges_what_the_commission_model_says(model: dict[str, Any], quantity: int, price: str) -> None:
    typed = CommissionModel.model_validate(model)
    job = BacktestJob(**{**_JOB, "commission_model": typed})  # type: ignore[arg-type]
    request = run_input(job, {}, {})
    fee_model = CommissionFeeModel(request.commission_kind, request.commission_params)
    instrument = TestInstrumentProvider.equity()
    charged = fee_model.get_commission(None, Quantity.from_int(quantity), Price.from_str(price), instrument)
    expected = typed.commission_for(quantity, Decimal(price))
    assert charged.as_decimal() == expected
    assert commission(request.commission_kind, Decimal(quantity), Decimal(price), request.commission_params) == expected


def test_an_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="must be PER_SHARE, PERCENT or FIXED, got 'PER_LOT'"):
        commission_amount("PER_LOT", Decimal(1), Decimal(1), {})


_JOB: dict[str, Any] = {
    "backtest_id": None,
    "user_id": None,
    "configuration_id": None,
    "strategy_type": "SMA_CROSSOVER",
    "parameters": {},
    "instrument_ids": [],
    "start_date": None,
    "end_date": None,
    "initial_capital": Decimal(100_000),
    "position_size_pct": Decimal(5),
    "benchmark_symbol": "SPY",
}
