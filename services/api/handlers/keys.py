"""/keys: the caller's API keys: make another, list them (never the key itself), revoke one at once."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from services.api.auth import CurrentUser, forget_key
from services.api.handlers.deps import Db
from services.api.pagination import DEFAULT, Limit, Offset, Page
from services.api.problems import not_found
from services.api.users import add_key, list_keys, revoke_key

router = APIRouter(prefix="/keys", tags=["keys"])


class KeyCreated(BaseModel):
    key_id: UUID
    api_key: str = Field(description="shown once: only its hash is stored")


class KeyOut(BaseModel):
    key_id: UUID
    prefix: str = Field(description="the public part after `bts_`, to tell keys apart")
    created_at: datetime
    last_used_at: datetime | None = Field(description="to within the gateway's key cache lifetime (30 s)")
    revoked_at: datetime | None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create(user: CurrentUser, conn: Db) -> KeyCreated:
    """A new API key for you (rotate: create one, switch to it, revoke the old one)."""
    created = await add_key(conn, user)
    return KeyCreated(key_id=created.key_id, api_key=created.api_key)


@router.get("", response_model=Page[KeyOut])
async def list_all(user: CurrentUser, conn: Db, limit: Limit = DEFAULT, offset: Offset = 0) -> Page[KeyOut]:
    """Your keys, newest first: when made, last used and revoked (a user has a handful: paged in memory)."""
    keys = [KeyOut.model_validate(k, from_attributes=True) for k in await list_keys(conn, user)]
    return Page(items=keys[offset : offset + limit], total=len(keys), limit=limit, offset=offset)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke(key_id: UUID, user: CurrentUser, conn: Db) -> Response:
    """Revoke one of your keys (also the one you call with): the next request with it is 401."""
    key_hash = await revoke_key(conn, user, key_id)
    if key_hash is None:
        raise not_found("API key", key_id)
    forget_key(key_hash)  # this process at once; the others through NOTIFY
    return Response(status_code=status.HTTP_204_NO_CONTENT)
