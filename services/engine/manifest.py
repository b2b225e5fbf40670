"""The manifest of one run: digests of its inputs and trades plus the versions of the code that ran it.

The digests are pure functions (services.engine.domain.manifest); this module adds what it takes from
the installation: package versions, the git commit, the strategy type's registration.
"""

from __future__ import annotations

import contextlib
import functools
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from services.engine.bars import ADJUSTMENT_ATTR
from services.engine.domain.ledger import TradeRecord
from services.engine.domain.manifest import (
    MANIFEST_VERSION,
    bars_digest,
    canonical_json,
    json_sha256,
    series_sha256,
    trades_sha256,
)
from services.engine.domain.shared_frames import derived
from services.engine.job import BacktestJob
from shared.contracts.models.manifest import RunManifest
from shared.platform.settings import Settings
from shared.strategy_types import ParameterError, registry

SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def _git_commit() -> str:
    """BTS_GIT_COMMIT (set when the image is built), else the checkout's HEAD (+"-dirty"), else 'unknown'."""
    configured = Settings().git_commit
    if configured:
        return configured
    if not (SOURCE_ROOT / ".git").exists():
        return "unknown"

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(SOURCE_ROOT), *args], capture_output=True, text=True, timeout=5, check=True
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


@functools.cache
def provenance() -> dict[str, str]:
    engine, commit = _version("bts"), _git_commit()
    return {
        "engine_version": engine,
        "nautilus_trader_version": _version("nautilus_trader"),
        "python_version": platform.python_version(),
        "git_commit": commit,
        "code_version": f"{engine}+{commit}",
    }


def _shared_bars_digest(frame: pd.DataFrame) -> dict[str, Any]:
    """`bars_digest` of a frame that runs may share (kept in the engine's InputCache): computed once per frame
    object (see shared_frames)."""
    return derived(frame, "bars_digest", lambda: bars_digest(frame))


def configuration_document(job: BacktestJob, parameters: dict[str, Any]) -> dict[str, Any]:
    """What defines the run, without the ids that differ from one run of it to the next."""
    return {
        "strategy_type": job.strategy_type,
        "parameters": parameters,
        "instrument_ids": list(job.instrument_ids),
        "start_date": job.start_date,
        "end_date": job.end_date,
        "initial_capital": job.initial_capital,
        "position_size_pct": job.position_size_pct,
        "commission_model": job.commission_model.model_dump(exclude_none=True),
        "benchmark_symbol": job.benchmark_symbol,
        "timeframe": job.timeframe,
        "price_adjustment": job.price_adjustment,
        # only when set, so the digests of runs without a warm-up stay what they were
        **({"warmup_start": job.warmup_start} if job.warmup_start is not None else {}),
    }


def run_manifest(
    job: BacktestJob,
    bars: dict[str, pd.DataFrame] | None = None,
    benchmark: pd.Series | None = None,
    trades: list[TradeRecord] | None = None,
) -> dict[str, Any]:
    """The manifest as JSON. A failed run has what was known when it failed (no trades digest)."""
    spec = registry().get(job.strategy_type)
    parameters = dict(job.parameters)  # kept as requested when the run failed on them
    if spec is not None:
        with contextlib.suppress(ParameterError):
            parameters = spec.normalized(job.parameters)
    parameters = canonical_json(parameters)
    configuration = canonical_json(configuration_document(job, parameters))
    manifest = RunManifest.model_validate(
        {
            "manifest_version": MANIFEST_VERSION,
            "data": {iid: _shared_bars_digest(frame) for iid, frame in (bars or {}).items()},
            "price_adjustment": {
                iid: frame.attrs[ADJUSTMENT_ATTR]
                for iid, frame in (bars or {}).items()
                if ADJUSTMENT_ATTR in frame.attrs
            },
            "benchmark": {
                "symbol": job.benchmark_symbol,
                "instrument_id": benchmark.name,
                "sha256": derived(benchmark, "sha256", lambda: series_sha256(benchmark)),
                "points": len(benchmark),
            }
            if benchmark is not None
            else None,
            "configuration": configuration,
            "configuration_sha256": json_sha256(configuration),
            "strategy_type": job.strategy_type,
            "parameters": parameters,
            "parameters_sha256": json_sha256(parameters),
            "strategy_distribution": spec.distribution if spec else None,
            "strategy_version": spec.version if spec else None,
            "trades_sha256": trades_sha256(trades) if trades is not None else None,
            "trades_count": len(trades) if trades is not None else None,
            "data_as_of": job.data_as_of,
            **provenance(),
        }
    )
    return manifest.model_dump(mode="json")
