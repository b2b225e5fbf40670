"""The jinja2 environment of the HTML reports: a program's own templates first, then the shared ones
(`_style.html.j2`, the look every report includes, and `comparison.html.j2`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=4)
def environment(*template_dirs: Path) -> jinja2.Environment:
    """Templates looked up in `template_dirs`, then in the shared ones; autoescaped."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*template_dirs, TEMPLATES]),
        autoescape=jinja2.select_autoescape(["j2"]),
    )
