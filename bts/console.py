"""Console output shared by the commands: rich for people, plain JSON for scripts."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False)
# Errors stay on one line whatever the width, so scripts and logs can grep them.
err = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A failure we can explain: printed as one clear message, exit code `code`, no traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
