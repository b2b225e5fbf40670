"""The web console at /ui: server-rendered pages (jinja2 and a little plain script) for researchers and
operators, signed in with an API key. See docs/console.md."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.api.ui import operations, research, signin
from services.api.ui.web import render

router = APIRouter()
for module in (signin, research, operations):
    router.include_router(module.router)


@router.get("/ui/{path:path}", include_in_schema=False)
async def unknown_page(request: Request, path: str) -> Response:
    """Any other /ui path: a 404 page rather than a JSON problem (`/ui/` is the console itself)."""
    if not path:
        return RedirectResponse("/ui", status_code=307)
    detail = f"the console has no page /ui/{path}"
    return render(request, "error.html.j2", status_code=404, status=404, title="Not Found", detail=detail)


# The console's CSV upload may be as large as the REST upload (the body limit's upload paths).
UPLOAD_PATHS = frozenset({"/ui/data/upload"})
