"""`Authorization: Bearer <api key>` on every route; the /ops routes need an admin's key."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.problems import ProblemError
from services.api.users import KeyOwner, key_owner

bearer = HTTPBearer(auto_error=False, description="an API key from `bts user create NAME`")


async def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> KeyOwner:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(401, "Unauthorized", "send an API key as `Authorization: Bearer <key>`")
    async with request.app.state.ctx.pool.acquire() as conn:
        owner = await key_owner(conn, credentials.credentials)
    if owner is None:
        raise ProblemError(401, "Unauthorized", "unknown or revoked API key")
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
