"""LISTEN connections held out of the pool (outbox relays, idle consumers) and how to tell they died."""

from __future__ import annotations

from typing import Any

import asyncpg


def listener_alive(conn: Any) -> bool:
    """Whether a held LISTEN connection still works. After a database restart the pool may already have
    released or closed it, and then even asking raises: that counts as dead (listen again)."""
    if conn is None:
        return False
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False
