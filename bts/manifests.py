"""Comparing two run manifests (pure): which inputs, versions and outputs are the same."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    what: str
    original: str
    rerun: str

    @property
    def same(self) -> bool:
        return self.original == self.rerun


def _digest(value: Any) -> str:
    return str(value) if value else "-"


def manifest_checks(original: dict[str, Any], rerun: dict[str, Any]) -> list[Check]:
    """Inputs first (bars per instrument, benchmark, configuration, parameters), then code, then trades."""
    checks = []
    for instrument in sorted(set(original.get("data") or {}) | set(rerun.get("data") or {})):
        first, second = (m.get("data", {}).get(instrument) or {} for m in (original, rerun))
        checks.append(Check(f"bars {instrument}", _digest(first.get("sha256")), _digest(second.get("sha256"))))
    benchmarks = [(m.get("benchmark") or {}).get("sha256") for m in (original, rerun)]
    checks.append(Check("benchmark closes", _digest(benchmarks[0]), _digest(benchmarks[1])))
    checks.append(Check("data as of", _digest(original.get("data_as_of")), _digest(rerun.get("data_as_of"))))
    for key, what in (
        ("configuration_sha256", "configuration"),
        ("parameters_sha256", "parameters"),
        ("engine_version", "engine version"),
        ("nautilus_trader_version", "NautilusTrader"),
        ("code_version", "code version"),
        ("strategy_version", "strategy package"),
        ("trades_sha256", "trades"),
    ):
        checks.append(Check(what, _digest(original.get(key)), _digest(rerun.get(key))))
    return checks
