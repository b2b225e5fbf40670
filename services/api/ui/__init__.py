"""The web console at /ui: server-rendered pages (jinja2 and a little plain script) for researchers and
operators, signed in with an API key. See docs/console.md."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.ui import operations, research, signin

router = APIRouter()
for module in (signin, research, operations):
    router.include_router(module.router)

# The console's CSV upload may be as large as the REST upload (the body limit's upload paths).
UPLOAD_PATHS = frozenset({"/ui/data/upload"})
