"""Errors as RFC 9457 problem details (application/problem+json), with field-level details.

Every error the gateway returns goes through here: validation (422) lists each field with what was
expected, domain errors carry their message, unknown ids answer 404 (also another user's ids).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the offending field, e.g. body.commission_model.type")
    message: str
    type: str | None = None


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ProblemError(Exception):
    """Raise from a handler to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str | None = None, errors: list[FieldError] | None = None):
        super().__init__(detail or title)
        self.problem = Problem(title=title, status=status, detail=detail, errors=errors or [])


def not_found(what: str, ident: object) -> ProblemError:
    return ProblemError(404, "Not Found", f"{what} {ident} does not exist")


def unprocessable(errors: list[FieldError]) -> ProblemError:
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    return ProblemError(422, "Unprocessable Content", detail, errors)


def validation_problem(exc: ValidationError, prefix: str = "body") -> ProblemError:
    """A pydantic error raised by a domain model (not by FastAPI's own parsing) as a 422 problem."""
    errors = [
        FieldError(field=".".join([prefix, *(str(p) for p in e["loc"])]) if e["loc"] else prefix,
                   message=str(e["msg"]).removeprefix("Value error, "), type=e["type"])
        for e in exc.errors()
    ]  # fmt: skip
    return unprocessable(errors)


def problem_response(problem: Problem, request: Request, headers: dict[str, str] | None = None) -> JSONResponse:
    problem.instance = problem.instance or request.url.path
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=problem.status, media_type=PROBLEM_JSON, headers=headers
    )


def _field_errors(errors: list[dict[str, Any]]) -> list[FieldError]:
    return [
        FieldError(
            field=".".join(str(p) for p in e.get("loc", ())),
            message=str(e.get("msg", "")).removeprefix("Value error, "),
            type=e.get("type"),
        )
        for e in errors
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.problem.model_copy(), request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(unprocessable(_field_errors(list(exc.errors()))).problem, request)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}.get(
            exc.status_code, "Error"
        )
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(Problem(title=title, status=exc.status_code, detail=detail), request,
                                dict(exc.headers or {}))  # fmt: skip

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            Problem(title="Internal Server Error", status=500, detail=f"{type(exc).__name__}: the error is logged"),
            request,
        )
