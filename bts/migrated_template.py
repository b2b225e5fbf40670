"""`python -m bts.migrated_template NAME`: make the migrated database template NAME for later `bts up`s.

`bts up` on a new state dir copies a cluster made once per machine (shared/devstack/postgres.py). When that
cluster also holds the schemas, migrated by the same migrations (`migrations_digest`), the migrations of a
new stack have nothing left to do but the roles' passwords and grants: ~0.2 s instead of ~1.1 s of the start,
and of the CPU the services' start needs at the same time. `bts up` runs this after it is ready, in a process
of its own at the lowest CPU priority, when its database was not such a copy; it stops it when it stops.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys

from bts.migrations import migrate_all
from shared.devstack.postgres import build_prepared_template

LOWEST_PRIORITY = 19


def main(name: str) -> int:
    os.nice(LOWEST_PRIORITY)  # the servers and copies it starts inherit it
    # SIGTERM from `bts up`: stop the temporary server and delete the half-made copy (finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    # A throwaway role password: each stack's migrations set its own.
    built = build_prepared_template(name, lambda url: migrate_all(url, secrets.token_urlsafe(16)))
    return 0 if built is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
