"""Query and path parameters with a NUL character are refused before any route reads them: PostgreSQL text
cannot hold one, and a filter such as `?id_prefix=A%00` would otherwise fail in the database (a 500)."""

from __future__ import annotations

from fastapi import Request

from services.api.problems import FieldError, unprocessable


def refuse_nul_parameters(request: Request) -> None:
    """A 422 naming each query or path parameter that holds a NUL (a dependency of every /api/v1 route)."""
    params = [("query", request.query_params.multi_items()), ("path", list(request.path_params.items()))]
    errors = [
        FieldError(field=f"{where}.{name}", message="must not contain a NUL character", type="string_pattern_mismatch")
        for where, items in params
        for name, value in items
        if isinstance(value, str) and "\x00" in value
    ]
    if errors:
        raise unprocessable(errors)
