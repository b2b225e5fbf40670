"""Back-adjustment of raw bars for splits and cash dividends (pure).

Each bar is scaled by the product of the factors of the actions whose ex_date falls after the bar's
session date and on or before the last bar's: the last bar keeps its traded prices and older ones are
expressed in its shares (an action after the data's end is not applied, so recording one later never changes
a run of earlier data):
- a split of ratio r (new shares per old share): prices / r, volume * r;
- a cash dividend d with the raw close c of the last bar before its ex_date: prices * (1 - d / c), the
  CRSP / Yahoo convention (volume unchanged). A dividend with no earlier bar in the frame, or one at
  least as large as that close, cannot be applied and is reported instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shared.contracts.models.corporate_action import CorporateAction
from shared.contracts.models.enums import CorporateActionType, PriceAdjustment

PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass(frozen=True)
class Adjusted:
    frame: pd.DataFrame
    splits_applied: int = 0
    dividends_applied: int = 0
    skipped: list[str] = field(default_factory=list)  # actions that could not be applied, and why


def back_adjust(
    frame: pd.DataFrame, sessions: pd.DatetimeIndex, actions: Iterable[CorporateAction], mode: PriceAdjustment
) -> Adjusted:
    """`frame`: raw bars (open, high, low, close, volume) in time order; `sessions`: each bar's session date
    (naive). Returns a new frame; `frame` is not changed."""
    if mode is PriceAdjustment.NONE or frame.empty:
        return Adjusted(frame)
    days = sessions.to_numpy(dtype="datetime64[ns]")
    raw_close = frame["close"].to_numpy(dtype=np.float64)
    price_factor = np.ones(len(frame))
    volume_factor = np.ones(len(frame))
    splits = dividends = 0
    skipped: list[str] = []
    for action in sorted(actions, key=lambda a: (a.ex_date, a.type.value)):
        ex_day = np.datetime64(action.ex_date, "ns")
        before = days < ex_day  # bars of sessions before the ex_date
        if not before.any() or before.all():
            continue
        if action.type is CorporateActionType.SPLIT:
            ratio = float(action.value)
            price_factor[before] /= ratio
            volume_factor[before] *= ratio
            splits += 1
        elif mode is PriceAdjustment.SPLITS_AND_DIVIDENDS:
            previous_close = raw_close[np.flatnonzero(before)[-1]]
            amount = float(action.value)
            if amount >= previous_close:
                skipped.append(
                    f"dividend {amount:g} on {action.ex_date} is not below the previous close {previous_close:g}"
                )
                continue
            price_factor[before] *= 1.0 - amount / previous_close
            dividends += 1
    adjusted = frame.copy()
    for column in PRICE_COLUMNS:
        adjusted[column] = frame[column].to_numpy(dtype=np.float64) * price_factor
    adjusted["volume"] = frame["volume"].to_numpy(dtype=np.float64) * volume_factor
    return Adjusted(adjusted, splits, dividends, skipped)


def splits_inside(sessions: pd.DatetimeIndex, actions: Iterable[CorporateAction]) -> list[CorporateAction]:
    """The splits that back-adjustment would apply to bars of these `sessions` (ex_date after the first session,
    on or before the last): with price_adjustment NONE their moves stay in the prices."""
    if sessions.empty:
        return []
    first, last = sessions.min().date(), sessions.max().date()
    return [a for a in actions if a.type is CorporateActionType.SPLIT and first < a.ex_date <= last]
