"""`Authorization: Bearer <api key>` on every route but the operations ones."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.problems import ProblemError
from services.api.users import user_for_key

bearer = HTTPBearer(auto_error=False, description="an API key from `bts user create NAME`")


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> UUID:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(401, "Unauthorized", "send an API key as `Authorization: Bearer <key>`")
    async with request.app.state.ctx.pool.acquire() as conn:
        user_id = await user_for_key(conn, credentials.credentials)
    if user_id is None:
        raise ProblemError(401, "Unauthorized", "unknown or revoked API key")
    return user_id


CurrentUser = Annotated[UUID, Depends(current_user)]
