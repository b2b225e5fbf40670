"""`Authorization: Bearer <api key>` on every route; the /ops routes need an admin's key.

Known keys are cached briefly; a revoked key leaves every gateway process's cache at once (PostgreSQL
NOTIFY, see `RevokedKeys`). Clients that keep presenting wrong keys get 429 for a while.
"""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, NoReturn
from uuid import UUID

import asyncpg
import structlog
from cachetools import TTLCache
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.domain.auth_failures import AuthFailures, FailureLimit
from services.api.problems import ProblemError
from services.api.users import KEY_REVOKED_CHANNEL, KeyOwner, key_owner
from shared.platform.apikeys import hash_key
from shared.platform.db.urls import asyncpg_dsn
from shared.platform.settings import Settings

log = structlog.get_logger()

# Known keys are remembered briefly so a read costs no extra database round trip. A revoked key is dropped
# at once (this process directly, the others through NOTIFY); while a process is not listening (database
# connection lost) the TTL bounds how long a revoked key may still pass there. Only hits are cached: an
# unknown key is always looked up.
KEY_CACHE_TTL_S = 30.0
_known_keys: TTLCache[str, KeyOwner] = TTLCache(maxsize=10_000, ttl=KEY_CACHE_TTL_S)

bearer = HTTPBearer(auto_error=False, description="an API key from `bts user create NAME` or `bts key create`")


def known_caller(authorization: str) -> KeyOwner | None:
    """The owner of an `Authorization: Bearer <key>` header's key if it was checked recently, else None."""
    scheme, _, key = authorization.partition(" ")
    return _known_keys.get(hash_key(key.strip())) if scheme.lower() == "bearer" else None


def forget_key(key_hash: str) -> None:
    """Drop a (revoked) key from this process's cache: its next request is looked up again."""
    _known_keys.pop(key_hash, None)


def auth_failures_for(settings: Settings) -> AuthFailures:
    return AuthFailures(FailureLimit(settings.auth_failures_max, settings.auth_failures_window_s))


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


async def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> KeyOwner:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(401, "Unauthorized", "send an API key as `Authorization: Bearer <key>`")
    digest = hash_key(credentials.credentials)  # never keep plaintext keys around
    owner = _known_keys.get(digest)
    if owner is not None:
        return owner
    async with request.app.state.ctx.pool.acquire() as conn:
        owner = await key_owner(conn, credentials.credentials)
    if owner is None:
        _refuse(request.app.state.auth_failures, _client(request))
    _known_keys[digest] = owner
    return owner


def _refuse(failures: AuthFailures, client: str) -> NoReturn:
    """A wrong key: 401, or 429 once this client is over its limit of failures (a valid key always passes)."""
    wait = failures.retry_after(client)
    failures.record(client)
    if wait is not None:
        seconds = max(math.ceil(wait), 1)
        raise ProblemError(
            429,
            "Too Many Requests",
            f"too many failed authentications from this client: try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    raise ProblemError(401, "Unauthorized", "unknown or revoked API key")


async def current_user(owner: Annotated[KeyOwner, Depends(caller)]) -> UUID:
    return owner.user_id


async def current_admin(owner: Annotated[KeyOwner, Depends(caller)]) -> UUID:
    """Operations show every user's traffic and can replay it: admins only (`bts user create NAME --admin`,
    or the demo key `bts up` prints)."""
    if not owner.is_admin:
        raise ProblemError(403, "Forbidden", "operations need an admin's API key (`bts user create NAME --admin`)")
    return owner.user_id


CurrentUser = Annotated[UUID, Depends(current_user)]
AdminUser = Annotated[UUID, Depends(current_admin)]


class RevokedKeys:
    """A component of the gateway: LISTENs for revoked keys and drops them from this process's cache, so
    several workers or replicas all refuse a revoked key at once. Reconnects when the connection drops,
    and empties the cache then (a revocation may have been missed meanwhile)."""

    RETRY_S = 2.0

    def __init__(self, database_url: str) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.listening = asyncio.Event()  # set while revocations reach this process
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="revoked-keys")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _listen(self) -> None:
        while True:
            try:
                conn = await asyncpg.connect(self.dsn)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("revoked-key listener cannot connect; retrying", error=str(exc))
            else:
                try:
                    await self._listen_on(conn)
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("revoked-key listener lost its connection", error=str(exc))
                finally:
                    self.listening.clear()
                    await asyncio.shield(_close(conn))
            await asyncio.sleep(self.RETRY_S)

    async def _listen_on(self, conn: asyncpg.Connection) -> None:
        """Until the connection drops: drop each revoked key from the cache as its notification arrives."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(KEY_REVOKED_CHANNEL, lambda _conn, _pid, _channel, payload: forget_key(payload))
        _known_keys.clear()  # anything revoked while we were not listening
        self.listening.set()
        await lost.wait()


async def _close(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        conn.terminate()
