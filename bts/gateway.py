"""The CLI's HTTP client of the gateway: every failure becomes a CliError that says what to do.

httpx is imported when a command first talks to the gateway, not when `bts` starts: `bts --help` answers at
once (tests/unit/test_cli_imports.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bts.console import CliError
from bts.options import flag_for
from shared.platform.gateway_access import GatewayAccess

if TYPE_CHECKING:
    import httpx

PROBLEM_JSON = "application/problem+json"


def problem_message(response: httpx.Response, flags: dict[str, str] | None = None) -> str:
    """One readable message from a problem+json answer: the detail, or each field error on a line, named by
    the CLI flag that set the field when `flags` (request field -> flag) knows it."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    lines = [str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")]
    errors = body.get("errors") or []
    if flags and errors:
        named = [f"{flag_for(str(e.get('field')), flags)}: {e.get('message')}" for e in errors]
        return named[0] if len(named) == 1 else "\n".join([str(body.get("title") or "invalid options"), *named])
    if len(errors) > 1 or (errors and errors[0].get("message") not in lines[0]):
        lines = [str(body.get("title") or f"HTTP {response.status_code}")]
        lines += [f"  {e.get('field')}: {e.get('message')}" for e in errors]
    return "\n".join(lines)


class Gateway:
    def __init__(
        self, access: GatewayAccess | None = None, timeout: float = 60, flags: dict[str, str] | None = None
    ) -> None:
        """`access`: the environment's (BTS_API_URL, BTS_API_KEY) unless given. `flags`: the command's request
        field -> CLI flag, so that errors name the flag."""
        import httpx

        access = access or GatewayAccess.from_env()
        self.flags = flags
        if not access.api_key:
            raise CliError(
                "BTS_API_KEY is not set: create a key with `bts user create NAME` (or use the demo key "
                "`bts up` prints) and export BTS_API_KEY=<key>"
            )
        self.url = access.api_url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url + "/api/v1", timeout=timeout, headers={"Authorization": f"Bearer {access.api_key}"}
        )

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise CliError(
                f"the gateway is not running at {self.url}: start the stack with `bts up` (or set BTS_API_URL)"
            ) from exc
        except httpx.TimeoutException as exc:
            raise CliError(f"the gateway at {self.url} did not answer in time ({exc})") from exc
        if response.status_code == 401:
            raise CliError("the gateway refused the API key (401): check BTS_API_KEY (`bts user create NAME`)")
        if response.status_code >= 400:
            raise CliError(problem_message(response, self.flags))
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    def upload(self, path: Path, form: dict[str, str]) -> Any:
        with path.open("rb") as file:
            return self.post("/market-data/import", files={"file": (path.name, file, "text/csv")}, data=form)

    def poll(
        self, path: str, done: Callable[[dict[str, Any]], bool], every_s: float = 0.3, timeout_s: float = 3600
    ) -> Iterator[dict[str, Any]]:
        """Yield the resource until `done` says so (the last one included)."""
        deadline = time.monotonic() + timeout_s
        while True:
            body: dict[str, Any] = self.get(path)
            yield body
            if done(body):
                return
            if time.monotonic() > deadline:
                raise CliError(f"gave up waiting after {timeout_s:.0f} s; last state: {json.dumps(body)[:300]}")
            time.sleep(every_s)
