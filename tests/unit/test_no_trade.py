"""The warning of a completed run without a trade says why, in numbers."""

from __future__ import annotations

from decimal import Decimal

from services.engine.domain.no_trade import CheapestLot, no_trade_warning


def test_a_position_size_below_one_share_is_named_with_its_numbers() -> None:
    warning = no_trade_warning(Decimal(1000), Decimal("0.1"), 4, CheapestLot("AAPL.NASDAQ", Decimal("150.00"), 1))
    assert warning == (
        "no trade: the position size rounds to 0 shares: 0.1% of 1,000.00 is 1.00 at a price of 150.00 "
        "(AAPL.NASDAQ, its lowest close in the period)"
    )


def test_lots_count_too() -> None:
    warning = no_trade_warning(Decimal(100_000), Decimal(1), 2, CheapestLot("X.NASDAQ", Decimal(20), 100))
    assert "rounds to 0 lots of 100: 1% of 100,000.00 is 1,000.00 at a price of 20.00" in warning


def test_signals_without_room_are_counted() -> None:
    warning = no_trade_warning(Decimal(100_000), Decimal(1), 3, CheapestLot("X.NASDAQ", Decimal(20), 1))
    assert warning.startswith("no trade: 3 signal(s), but no entry could be filled")
