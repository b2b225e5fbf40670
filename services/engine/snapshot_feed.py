"""Portfolio snapshots handed from the worker thread that builds them to the event loop that stores them.

The ledger is built in the worker thread after the Nautilus run, and the snapshots are most of what a
run writes: one per session and one per timestamp with fills, each into its day's partition. Handing
them over in batches as they are made lets PostgreSQL insert one batch (its own process, the other
core) while this process builds the next ones and then the metrics and the manifest, instead of
starting only once everything is computed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


class SnapshotFeed:
    """A one-way, unbounded channel of record batches: `put` and `close` from any thread, `batches` on the loop."""

    _END: Any = object()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._head: Any = None

    # -- the producer (worker thread) --------------------------------------------------------------
    def put(self, batch: list[Any]) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, batch)

    def close(self) -> None:
        """No more batches (the producer finished, or failed: its caller learns why from the producer)."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, self._END)

    # -- the consumer (event loop) -----------------------------------------------------------------
    async def ready(self) -> bool:
        """Wait for the first batch: True when there is one, False when the feed closed without any."""
        if self._head is None:
            self._head = await self._queue.get()
        return self._head is not self._END

    async def batches(self) -> AsyncIterator[list[Any]]:
        """The batches in order, until the producer closes the feed."""
        while await self.ready():
            batch, self._head = self._head, None
            yield batch
