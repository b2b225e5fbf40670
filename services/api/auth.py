"""`Authorization: Bearer <api key>` on every route but the operations ones."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from cachetools import TTLCache
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.problems import ProblemError
from services.api.users import user_for_key
from shared.apikeys import hash_key

# Known keys are remembered briefly so a read costs no extra database round trip; a revoked key
# stops working within KEY_CACHE_TTL_S. Only hits are cached: an unknown key is always looked up.
KEY_CACHE_TTL_S = 30.0
_known_keys: TTLCache[str, UUID] = TTLCache(maxsize=10_000, ttl=KEY_CACHE_TTL_S)

bearer = HTTPBearer(auto_error=False, description="an API key from `bts user create NAME`")


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> UUID:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(401, "Unauthorized", "send an API key as `Authorization: Bearer <key>`")
    digest = hash_key(credentials.credentials)  # never keep plaintext keys around
    user_id = _known_keys.get(digest)
    if user_id is not None:
        return user_id
    async with request.app.state.ctx.pool.acquire() as conn:
        user_id = await user_for_key(conn, credentials.credentials)
    if user_id is None:
        raise ProblemError(401, "Unauthorized", "unknown or revoked API key")
    _known_keys[digest] = user_id
    return user_id


CurrentUser = Annotated[UUID, Depends(current_user)]
