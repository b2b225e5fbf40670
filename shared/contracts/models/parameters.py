"""Typed parameter schemas of the built-in strategy types (the names docs/engine.md lists).

Unknown names are errors. Which schema belongs to which type is the registry's business
(`shared.strategy_types`): plugins add their own types and schemas there.
"""

from __future__ import annotations

from typing import Final, Self

from pydantic import Field, model_validator

from shared.strategy_types import ParameterError, StrategyParameters, validate_parameters

__all__ = [
    "MeanReversionParameters",
    "MomentumParameters",
    "ParameterError",
    "SmaCrossoverParameters",
    "StrategyParameters",
    "validate_parameters",
]

# Bounds of the built-in parameters: every window fits decades of daily bars (or weeks of minute bars), and a
# threshold beyond them would never trigger.
MAX_BARS: Final = 10_000
MAX_Z_SCORE: Final = 100.0
MAX_RETURN_THRESHOLD: Final = 10.0  # 1000%


class SmaCrossoverParameters(StrategyParameters):
    fast_period: int = Field(ge=1, le=MAX_BARS - 1, description="bars in the fast simple moving average", examples=[10])
    slow_period: int = Field(ge=2, le=MAX_BARS, description="bars in the slow simple moving average", examples=[30])

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        if self.fast_period >= self.slow_period:
            raise ValueError(
                f"fast_period must be < slow_period (fast_period={self.fast_period}, slow_period={self.slow_period})"
            )
        return self


class MeanReversionParameters(StrategyParameters):
    lookback: int = Field(ge=2, le=MAX_BARS, description="bars in the mean and standard deviation", examples=[20])
    entry_z: float = Field(gt=0, le=MAX_Z_SCORE, description="enter when |z-score| reaches this", examples=[2.0])
    exit_z: float = Field(ge=0, le=MAX_Z_SCORE, description="exit when |z-score| falls back to this", examples=[0.5])

    @model_validator(mode="after")
    def _exit_inside_entry(self) -> Self:
        if self.exit_z >= self.entry_z:
            raise ValueError(f"exit_z must be < entry_z (exit_z={self.exit_z}, entry_z={self.entry_z})")
        return self


class MomentumParameters(StrategyParameters):
    lookback: int = Field(ge=1, le=MAX_BARS, description="bars over which the return is measured", examples=[20])
    threshold: float = Field(
        ge=0,
        le=MAX_RETURN_THRESHOLD,
        description="return (a fraction, 0.02 = 2%) that triggers an entry",
        examples=[0.02],
    )
