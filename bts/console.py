"""Console output shared by the commands: rich for people, plain JSON for scripts."""

from __future__ import annotations

import os
import sys

from rich.console import Console

# Piped or captured output (make, CI logs, `| tee`) is not a terminal, and rich then assumes 80 columns,
# which truncates the metrics table's headers; such output has no width to respect, so it gets 120
# (COLUMNS still wins when set).
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120

out = Console(highlight=False, width=_WIDTH)
# Errors stay on one line whatever the width, so scripts and logs can grep them.
err = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A failure we can explain: printed as one clear message, exit code `code`, no traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
