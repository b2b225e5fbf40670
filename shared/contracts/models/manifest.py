"""RunManifest: what a backtest result was computed from, as digests anyone can recompute.

Stored by the engine with every result and served by the gateway (GET /backtests/{id}/manifest). The
encodings behind each digest are documented in services/engine/domain/manifest.py and the README.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

SHA256: Final = r"^[0-9a-f]{64}$"


class BarsDigest(BaseModel):
    model_config = ConfigDict(frozen=True)

    sha256: str = Field(pattern=SHA256, description="SHA-256 of the bars' canonical encoding")
    bars: int = Field(ge=0)
    first: datetime | None = Field(description="first bar as handed to NautilusTrader (its close, UTC)")
    last: datetime | None


class SeriesDigest(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: str = Field(description="benchmark_symbol as requested")
    instrument_id: str | None = Field(default=None, description="the instrument it resolved to")
    sha256: str = Field(pattern=SHA256)
    points: int = Field(ge=0)


class RunManifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    manifest_version: int = 1
    data: dict[str, BarsDigest] = Field(
        default_factory=dict, description="per instrument id; empty when the run failed before reading bars"
    )
    price_adjustment: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per instrument id: how its bars were stored (bars: RAW | ADJUSTED), the configuration's "
        "price_adjustment (requested), what the run applied, and how many splits and dividends",
    )
    benchmark: SeriesDigest | None = Field(default=None, description="the benchmark's daily closes, when found")
    configuration: dict[str, Any] = Field(description="the normalized run definition the digest covers")
    configuration_sha256: str = Field(pattern=SHA256)
    strategy_type: str
    parameters: dict[str, Any] = Field(description="normalized: every default filled in")
    parameters_sha256: str = Field(pattern=SHA256)
    strategy_distribution: str | None = Field(default=None, description="installed package that registered the type")
    strategy_version: str | None = None
    engine_version: str = Field(description="version of the bts package that ran the engine")
    nautilus_trader_version: str
    python_version: str
    git_commit: str = Field(description="commit the code was built from, or 'unknown'")
    code_version: str = Field(description="<package version>+<git commit>")
    trades_sha256: str | None = Field(default=None, pattern=SHA256, description="null when the run failed")
    trades_count: int | None = None
    data_as_of: datetime | None = Field(
        default=None, description="system time of the market data the run read (null: run before versioning)"
    )
