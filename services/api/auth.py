"""`Authorization: Bearer <api key>` on every route; the /ops routes need an admin's key."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from cachetools import TTLCache
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.problems import ProblemError
from services.api.users import KeyOwner, key_owner
from shared.apikeys import hash_key

# Known keys are remembered briefly so a read costs no extra database round trip; a revoked key (or a
# change of admin rights) takes effect within KEY_CACHE_TTL_S. Only hits are cached: an unknown key is
# always looked up.
KEY_CACHE_TTL_S = 30.0
_known_keys: TTLCache[str, KeyOwner] = TTLCache(maxsize=10_000, ttl=KEY_CACHE_TTL_S)

bearer = HTTPBearer(auto_error=False, description="an API key from `bts user create NAME`")


def known_caller(authorization: str) -> KeyOwner | None:
    """The owner of an `Authorization: Bearer <key>` header's key if it was checked recently, else None."""
    scheme, _, key = authorization.partition(" ")
    return _known_keys.get(hash_key(key.strip())) if scheme.lower() == "bearer" else None


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
        raise ProblemError(401, "Unauthorized", "unknown or revoked API key")
    _known_keys[digest] = owner
    return owner


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
