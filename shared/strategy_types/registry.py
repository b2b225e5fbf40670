"""The strategy types installed packages register under the entry-point group `bts.strategies`.

An operator adds a strategy by installing a package whose pyproject.toml declares, e.g.

    [project.entry-points."bts.strategies"]
    DONCHIAN_BREAKOUT = "bts_donchian.spec:DONCHIAN_BREAKOUT"

pointing at a StrategyTypeSpec. bts registers its three built-ins the same way. The registry is read
once per process; a plugin that cannot be loaded or is malformed is left out and reported (logged,
and in `registry_problems()`), so one broken package never takes the platform down. When two packages
register the same name, bts's own wins, then the first distribution in name order.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any, Final

import structlog

from shared.strategy_types.parameters import ParameterError, StrategyParameters
from shared.strategy_types.spec import StrategyTypeSpec

ENTRY_POINT_GROUP: Final = "bts.strategies"
HOST_DISTRIBUTION: Final = "bts"
log = structlog.get_logger()


class UnknownStrategyType(LookupError):
    def __init__(self, name: object, known: list[str]) -> None:
        listed = ", ".join(known) if known else "none (is the bts package installed? `make install`)"
        super().__init__(f"strategy type {name!r} is not registered; registered: {listed}")
        self.name, self.known = name, known


def _distribution(entry: EntryPoint) -> tuple[str, str]:
    dist = entry.dist
    return (dist.name, dist.version) if dist is not None else ("?", "?")


def _order(entry: EntryPoint) -> tuple[bool, str, str]:
    name, _ = _distribution(entry)
    return (name != HOST_DISTRIBUTION, name, entry.name)


@functools.cache
def _load() -> tuple[Mapping[str, StrategyTypeSpec], tuple[str, ...]]:
    specs: dict[str, StrategyTypeSpec] = {}
    problems: list[str] = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=_order):
        dist, version = _distribution(entry)
        where = f"entry point {entry.name} = {entry.value} of {dist} {version}"
        try:
            spec = entry.load()
        except Exception as exc:  # a broken plugin must not break the platform: report it and go on
            problems.append(f"{where}: cannot be loaded: {type(exc).__name__}: {exc}")
            continue
        if not isinstance(spec, StrategyTypeSpec):
            problems.append(f"{where}: is a {type(spec).__name__}, not a StrategyTypeSpec")
            continue
        wrong = spec.problems()
        if spec.name != entry.name:
            wrong.append(f"the entry point's name must equal the spec's name {spec.name!r}")
        if wrong:
            problems.append(f"{where}: " + "; ".join(wrong))
            continue
        if spec.name in specs:
            first = specs[spec.name]
            problems.append(f"{where}: {spec.name} is already registered by {first.distribution}; ignored")
            continue
        specs[spec.name] = replace(spec, distribution=dist, version=version)
    for problem in problems:
        log.warning("strategy plugin left out", problem=problem)
    return MappingProxyType(dict(sorted(specs.items()))), tuple(problems)


def registry() -> Mapping[str, StrategyTypeSpec]:
    """Every registered strategy type by name (read-only, sorted by name)."""
    return _load()[0]


def registry_problems() -> tuple[str, ...]:
    """Plugins that were left out, and why."""
    return _load()[1]


def reload_registry() -> Mapping[str, StrategyTypeSpec]:
    """Read the entry points again (after installing a package in a running process, and in tests)."""
    _load.cache_clear()
    return registry()


def get_strategy_type(name: object) -> StrategyTypeSpec:
    """The spec of `name`, or UnknownStrategyType listing the registered names."""
    found = registry().get(name) if isinstance(name, str) else None
    if found is None:
        raise UnknownStrategyType(name, list(registry()))
    return found


def validate_parameters(strategy_type: object, parameters: Any) -> StrategyParameters:
    """Typed parameters of a registered type; ParameterError names the field (`strategy_type` when unknown)."""
    try:
        spec = get_strategy_type(strategy_type)
    except UnknownStrategyType as exc:
        raise ParameterError([("strategy_type", str(exc))]) from None
    return spec.validate(parameters)
