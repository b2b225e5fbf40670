"""API keys: shown once, stored only as a SHA-256 hash.

A key is `bts_<prefix>_<secret>`; the prefix (public, stored) lets people tell keys apart, the secret
carries 256 bits from `secrets`. A fast hash is right here: the secret is random, not a password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

PREFIX_LEN = 8


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    hash: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def new_key() -> NewKey:
    prefix = secrets.token_hex(PREFIX_LEN // 2)
    plaintext = f"bts_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(plaintext=plaintext, prefix=prefix, hash=hash_key(plaintext))
