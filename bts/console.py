"""Console output shared by the commands: rich for people, plain JSON for scripts."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class CliError(Exception):
    """A failure we can explain: printed as one clear message, exit code `code`, no traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
