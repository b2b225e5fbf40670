"""Where the gateway is and the key to it: the only settings a client of the REST API needs.

Read from two environment variables without the services' Settings (shared/platform/settings.py), whose
pydantic-settings import costs every `bts` client command ~30 ms of its start (docs/benchmarks.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV_PREFIX = "BTS_"
DEFAULT_API_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class GatewayAccess:
    api_url: str = DEFAULT_API_URL
    api_key: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> GatewayAccess:
        """BTS_API_URL and BTS_API_KEY (an empty key is no key)."""
        return cls(env.get(f"{ENV_PREFIX}API_URL") or DEFAULT_API_URL, env.get(f"{ENV_PREFIX}API_KEY") or None)
