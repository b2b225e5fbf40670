"""A sweep's parameter space (pure): check it against the strategy's parameter schema, then expand it.

- A grid is lists of values per parameter; its combinations are the Cartesian product.
- Random search draws `samples` combinations from ranges ({low, high}: integers for integer
  parameters, uniform floats for float ones) and from grid lists, with a seeded generator, so the same
  request draws the same combinations.
- Every value is checked against its parameter's schema (type, bounds) and an unknown parameter is an
  error naming it. Combinations that break a rule between parameters (fast_period < slow_period) are
  skipped and counted, since a grid over two axes always crosses that line.
- The size is checked before anything is expanded, so an enormous grid costs nothing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from services.api.domain.submission import Problem
from shared.strategy_types import get_strategy_type

MAX_DRAWS_PER_SAMPLE = 20  # random search gives up on a space with too few valid combinations


def parameter_model(strategy_type: str) -> type[BaseModel]:
    """The pydantic parameter model of a registered strategy type (built-in or plugin); UnknownStrategyType
    names the registered ones."""
    return get_strategy_type(strategy_type).parameters


@dataclass(frozen=True)
class Range:
    low: float
    high: float


@dataclass(frozen=True)
class Space:
    grid: dict[str, list[Any]] = field(default_factory=dict)
    ranges: dict[str, Range] = field(default_factory=dict)
    samples: int | None = None
    seed: int | None = None

    @property
    def random(self) -> bool:
        return bool(self.ranges) or self.samples is not None

    @property
    def swept(self) -> list[str]:
        return [*self.grid, *(name for name in self.ranges if name not in self.grid)]

    def size(self) -> int:
        """Combinations the space expands to (before cross-parameter rules)."""
        if self.random:
            return int(self.samples or 0)
        return math.prod(len(values) for values in self.grid.values())


@dataclass
class Expansion:
    combinations: list[dict[str, Any]]
    skipped: int = 0
    skip_reason: str | None = None


def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    return TypeAdapter(Annotated[info.annotation, info])  # type: ignore[arg-type]


def _message(exc: ValidationError) -> str:
    return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())


def space_problems(model: type[BaseModel], space: Space, fixed: dict[str, Any]) -> list[Problem]:
    """Unknown parameters, values outside the schema, missing required ones: each names its field."""
    known = list(model.model_fields)
    problems: list[Problem] = []
    adapters: dict[str, TypeAdapter[Any]] = {}  # one per parameter: building one costs far more than a check

    def check(path: str, name: str, value: Any) -> None:
        if name not in adapters:
            adapters[name] = _field_adapter(model, name)
        try:
            adapters[name].validate_python(value)
        except ValidationError as exc:
            problems.append(Problem(path, f"{name}={value!r}: {_message(exc)}"))

    for where, names in (("grid", list(space.grid)), ("ranges", list(space.ranges)), ("parameters", list(fixed))):
        for name in names:
            if name not in model.model_fields:
                problems.append(
                    Problem(f"body.{where}.{name}", f"unknown parameter {name!r}; expected one of: {', '.join(known)}")
                )
    for name, values in space.grid.items():
        if name not in model.model_fields:
            continue
        if not values:
            problems.append(Problem(f"body.grid.{name}", "give at least one value"))
        for i, value in enumerate(values):
            check(f"body.grid.{name}.{i}", name, value)
    for name, bounds in space.ranges.items():
        if name not in model.model_fields:
            continue
        annotation = model.model_fields[name].annotation
        if annotation not in (int, float):
            problems.append(Problem(f"body.ranges.{name}", f"{name} is not numeric: list its values in the grid"))
            continue
        for end in ("low", "high"):
            check(f"body.ranges.{name}.{end}", name, getattr(bounds, end))
        if bounds.low > bounds.high:
            problems.append(Problem(f"body.ranges.{name}", f"low ({bounds.low}) must be <= high ({bounds.high})"))
    for name, value in fixed.items():
        if name in model.model_fields:
            check(f"body.parameters.{name}", name, value)
    swept = set(space.swept)
    for name, info in model.model_fields.items():
        if info.is_required() and name not in swept and name not in fixed:
            problems.append(Problem(f"body.parameters.{name}", f"{name} is required: sweep it or give a fixed value"))
    if not space.grid and not space.ranges:
        problems.append(Problem("body.grid", "give a grid (lists of values) or ranges with a sample count"))
    if space.ranges and not space.samples:
        problems.append(Problem("body.samples", "random search over ranges needs a sample count"))
    return problems


def _valid(model: type[BaseModel], values: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return model.model_validate(values).model_dump(), None
    except ValidationError as exc:
        return None, _message(exc)


def _grid(space: Space) -> Iterator[dict[str, Any]]:
    names = list(space.grid)
    for values in itertools.product(*(list(dict.fromkeys(space.grid[n])) for n in names)):
        yield dict(zip(names, values, strict=True))


def _draws(model: type[BaseModel], space: Space) -> Iterator[dict[str, Any]]:
    import numpy as np  # here: not on the gateway's way to ready

    rng = np.random.default_rng(space.seed)
    while True:
        draw: dict[str, Any] = {}
        for name, values in space.grid.items():
            draw[name] = values[int(rng.integers(len(values)))]
        for name, bounds in space.ranges.items():
            if model.model_fields[name].annotation is int:
                draw[name] = int(rng.integers(int(bounds.low), int(bounds.high) + 1))
            else:
                draw[name] = round(float(rng.uniform(bounds.low, bounds.high)), 6)
        yield draw


def expand(model: type[BaseModel], space: Space, fixed: dict[str, Any]) -> Expansion:
    """The valid, distinct combinations (each a full parameter set), in a deterministic order."""
    result = Expansion(combinations=[])
    seen: set[str] = set()
    if space.random:
        wanted = int(space.samples or 0)
        source: Iterator[dict[str, Any]] = itertools.islice(_draws(model, space), wanted * MAX_DRAWS_PER_SAMPLE)
    else:
        wanted, source = space.size(), _grid(space)
    for combination in source:
        params, reason = _valid(model, {**fixed, **combination})
        if params is None:
            result.skipped += 1
            result.skip_reason = result.skip_reason or reason
            continue
        key = repr(sorted(params.items()))
        if key in seen:
            continue
        seen.add(key)
        result.combinations.append(params)
        if len(result.combinations) == wanted:
            break
    return result
