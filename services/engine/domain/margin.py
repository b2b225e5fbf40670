"""The data model's margin rule, "total margin used cannot exceed 3x account value", and the margin call that
keeps a book within it (pure, Decimal).

Margin used is |quantity| x price x the instrument's margin requirement; the account value is cash
plus every position marked at its price. Snapshots store both to the cent, and the database checks
`margin_used <= total_value * leverage` on the stored (rounded) values, so `within_leverage` compares
them the same way.

A margin call closes whole positions, the largest margin first (ties by instrument id, so the choice
is deterministic), until the margin left is at most (1 - MARGIN_CALL_BUFFER) x 3 x the account value,
each closing's own costs (commission and slippage) taken off the account value as it is chosen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

CENT: Final = Decimal("0.01")
LEVERAGE: Final = Decimal(3)
# What a margin call leaves free below the cap: a book that was just cut back is not called again by
# the next bar's noise (1% of the cap: a 0.5% fall of a fully margined long book).
MARGIN_CALL_BUFFER: Final = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    """Money as snapshots store it."""
    return value.quantize(CENT, ROUND_HALF_EVEN)


def within_leverage(margin_used: Decimal, total_value: Decimal, leverage: Decimal = LEVERAGE) -> bool:
    """The database's check on a snapshot, on the values it stores."""
    return cents(margin_used) <= cents(total_value) * leverage


@dataclass(frozen=True)
class Exposure:
    """One open position as a margin call sees it."""

    instrument_id: str
    margin: Decimal  # |quantity| x price x margin requirement
    closing_cost: Decimal  # commission + slippage of closing it now: the account value loses it


def positions_to_close(
    exposures: Iterable[Exposure],
    margin_used: Decimal,
    account_value: Decimal,
    leverage: Decimal = LEVERAGE,
    buffer: Decimal = MARGIN_CALL_BUFFER,
) -> list[str]:
    """The positions a margin call closes, in order; none when the book is within the cap.

    Whole positions, largest margin first, ties by instrument id, until margin used is at most
    (1 - buffer) x leverage x the account value after the closings' costs (or nothing is left).
    """
    if within_leverage(margin_used, account_value, leverage):
        return []
    target = (1 - buffer) * leverage
    chosen: list[str] = []
    for exposure in sorted(exposures, key=lambda e: (-e.margin, e.instrument_id)):
        if margin_used <= target * account_value and account_value > 0:
            break
        chosen.append(exposure.instrument_id)
        margin_used -= exposure.margin
        account_value -= exposure.closing_cost
    return chosen
