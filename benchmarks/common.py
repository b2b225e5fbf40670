"""Helpers shared by the benchmarks: a throw-away migrated database, timing, peak RSS."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bts.migrations import migrate_all
from shared.devstack.postgres import EmbeddedPostgres
from shared.platform.settings import Settings


@contextlib.contextmanager
def migrated_database() -> Iterator[str]:
    """Admin URL of a migrated database: BTS_DATABASE_URL if set, else a fresh embedded one."""
    settings = Settings()
    if settings.database_url:
        migrate_all(settings.database_url, settings.db_role_password)
        yield settings.database_url
        return
    with tempfile.TemporaryDirectory(prefix="bts-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        url = pg.start()
        try:
            migrate_all(url, settings.db_role_password)
            yield url
        finally:
            pg.stop()


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)
