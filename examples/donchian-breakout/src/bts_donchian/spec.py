"""DONCHIAN_BREAKOUT: its parameter model and its registration (a StrategyTypeSpec)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from bts_sdk import StrategyParameters, StrategyTypeSpec


class DonchianParameters(StrategyParameters):
    """Turtle-style channel breakout (long-only unless allow_short)."""

    entry_lookback: int = Field(
        ge=2, le=500, description="enter when the close breaks the high of this many bars", examples=[55]
    )
    exit_lookback: int = Field(
        ge=1, le=500, description="exit when the close breaks the low of this many bars", examples=[20]
    )

    @model_validator(mode="after")
    def _exit_not_longer_than_entry(self) -> Self:
        if self.exit_lookback > self.entry_lookback:
            raise ValueError(
                f"exit_lookback must be <= entry_lookback (exit_lookback={self.exit_lookback}, "
                f"entry_lookback={self.entry_lookback})"
            )
        return self


DONCHIAN_BREAKOUT = StrategyTypeSpec(
    name="DONCHIAN_BREAKOUT",
    parameters=DonchianParameters,
    description="Long when the close rises above the highest high of the last entry_lookback bars; out when it "
    "falls below the lowest low of the last exit_lookback bars (mirrored for shorts).",
    strategy_class="bts_donchian.strategy:DonchianBreakout",
)
