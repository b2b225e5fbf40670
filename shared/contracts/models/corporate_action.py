"""A split or cash dividend of one instrument, as loaded by its owner (POST /instruments/{id}/corporate-actions).

A SPLIT's `ratio` is new shares per old share (5 for a 5:1 split, 0.1 for a 1:10 reverse split); a
DIVIDEND's `amount` is cash per share in the instrument's currency, as paid (not split-adjusted). Both
take effect at the open of `ex_date`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Final, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.models.enums import CorporateActionType

FIRST_EX_DATE: Final = date(1900, 1, 1)
LAST_EX_DATE: Final = date(2100, 12, 31)
MAX_ACTIONS: Final = 10_000  # per upload; a listed stock has a few hundred actions at most


class CorporateAction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: CorporateActionType
    ex_date: date = Field(examples=["2020-08-31"])
    ratio: Decimal | None = Field(
        default=None,
        gt=0,
        le=10_000,
        max_digits=18,
        decimal_places=10,
        description="SPLIT only: new shares per old share (5 = 5:1, 0.1 = 1:10 reverse)",
    )
    amount: Decimal | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        max_digits=18,
        decimal_places=10,
        description="DIVIDEND only: cash per share as paid",
    )

    @model_validator(mode="after")
    def _one_value(self) -> Self:
        if not FIRST_EX_DATE <= self.ex_date <= LAST_EX_DATE:
            raise ValueError(f"ex_date must be within {FIRST_EX_DATE}..{LAST_EX_DATE}, got {self.ex_date}")
        if self.type is CorporateActionType.SPLIT and (self.ratio is None or self.amount is not None):
            raise ValueError("a SPLIT takes ratio (new shares per old share, e.g. 5 for 5:1) and no amount")
        if self.type is CorporateActionType.DIVIDEND and (self.amount is None or self.ratio is not None):
            raise ValueError("a DIVIDEND takes amount (cash per share) and no ratio")
        if self.ratio is not None and self.ratio == 1:
            raise ValueError("ratio: a split of 1 changes nothing")
        return self

    @property
    def value(self) -> Decimal:
        """The ratio of a split, the amount of a dividend."""
        value = self.ratio if self.type is CorporateActionType.SPLIT else self.amount
        assert value is not None  # the validator guarantees it
        return value


def split_ex_dates(actions: list[CorporateAction]) -> frozenset[date]:
    """The ex-dates of the splits among `actions`: price moves on those days are explained."""
    return frozenset(a.ex_date for a in actions if a.type is CorporateActionType.SPLIT)
