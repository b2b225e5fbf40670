"""Which instrument a backtest's `benchmark_symbol` names (pure): the gateway and the engine resolve alike.

`benchmark_symbol` is an instrument id (`SPY.ARCA`) or a bare symbol (`SPY`). An id names its instrument.
A bare symbol names the one listing of that symbol that has daily bars in the period; several such
listings are ambiguous (the caller names one by id), and none is an error too, except for the default
(SPY), which then runs without benchmark metrics (with a warning) as it always has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

DEFAULT_BENCHMARK: Final = "SPY"
# Daily bars a benchmark needs in the period: one return needs two closes.
MIN_BENCHMARK_BARS: Final = 2


@dataclass(frozen=True)
class BenchmarkCandidate:
    """A registered instrument the name could mean, with its daily bars in the backtest's period."""

    instrument_id: str
    symbol: str
    daily_bars: int

    @property
    def has_data(self) -> bool:
        return self.daily_bars >= MIN_BENCHMARK_BARS


Unresolved = Literal["ambiguous", "no_data", "unknown"]


@dataclass(frozen=True)
class BenchmarkChoice:
    """The resolved instrument id, or why there is none (`problem`, a sentence naming the candidates)."""

    name: str
    instrument_id: str | None
    problem: str | None = None
    unresolved: Unresolved | None = None

    @property
    def tolerated(self) -> bool:
        """An unresolved default without data runs on without benchmark metrics; an ambiguous default, or any
        other unresolved name, is an error."""
        return self.instrument_id is not None or (self.name == DEFAULT_BENCHMARK and self.unresolved != "ambiguous")


def resolve_benchmark(name: str, candidates: Sequence[BenchmarkCandidate]) -> BenchmarkChoice:
    """`candidates`: the instrument whose id is `name` and every instrument whose symbol is `name`."""
    exact = [c for c in candidates if c.instrument_id == name]
    if exact:  # an instrument id names exactly one instrument
        if exact[0].has_data:
            return BenchmarkChoice(name, name)
        needed = f"at least {MIN_BENCHMARK_BARS} are needed"
        return _unresolved(name, "no_data", f"{name} has {exact[0].daily_bars} daily bar(s) in the period; {needed}")
    listings = sorted((c for c in candidates if c.symbol == name), key=lambda c: c.instrument_id)
    with_data = [c.instrument_id for c in listings if c.has_data]
    if len(with_data) == 1:
        return BenchmarkChoice(name, with_data[0])
    if with_data:
        found = f"{len(with_data)} instruments with symbol {name} have daily bars in the period"
        return _unresolved(
            name, "ambiguous", f"ambiguous: {found} ({', '.join(with_data)}); name one by its instrument id"
        )
    if listings:
        ids = ", ".join(c.instrument_id for c in listings)
        return _unresolved(
            name, "no_data", f"none of the instruments with symbol {name} ({ids}) has daily bars in the period"
        )
    return _unresolved(name, "unknown", f"no instrument has the id or symbol {name} (register it: POST /instruments)")


def _unresolved(name: str, why: Unresolved, problem: str) -> BenchmarkChoice:
    return BenchmarkChoice(name, None, problem, why)
