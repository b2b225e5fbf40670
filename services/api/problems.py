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

from services.api.service_layer.submission import Refused
from shared.contracts.models.errors import field_problems

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

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail or title)
        self.problem = Problem(title=title, status=status, detail=detail, errors=errors or [])
        self.headers = headers


def not_found(what: str, ident: object) -> ProblemError:
    return ProblemError(404, "Not Found", f"{what} {ident} does not exist")


def unprocessable(errors: list[FieldError]) -> ProblemError:
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    return ProblemError(422, "Unprocessable Content", detail, errors)


def refused_problem(refused: Refused) -> ProblemError:
    """A use case's refusal (problems that needed the stored facts) as a 422 naming each field."""
    return unprocessable([FieldError(field=p.field, message=p.message) for p in refused.problems])


def validation_problem(exc: ValidationError, prefix: str = "body") -> ProblemError:
    """A pydantic error raised by a domain model (not by FastAPI's own parsing) as a 422 problem."""
    return unprocessable(_field_errors(list(exc.errors()), prefix))


def problem_response(problem: Problem, request: Request, headers: dict[str, str] | None = None) -> JSONResponse:
    problem.instance = problem.instance or request.url.path
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=problem.status, media_type=PROBLEM_JSON, headers=headers
    )


def _field_errors(errors: list[Any], prefix: str = "") -> list[FieldError]:
    return [FieldError(field=p.field, message=p.message, type=p.type) for p in field_problems(errors, prefix)]


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.problem.model_copy(), request, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(unprocessable(_field_errors(list(exc.errors()))).problem, request)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}.get(
            exc.status_code, "Error"
        )
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(
            Problem(title=title, status=exc.status_code, detail=detail), request, dict(exc.headers or {})
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            Problem(title="Internal Server Error", status=500, detail=f"{type(exc).__name__}: the error is logged"),
            request,
        )


ERROR_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
}


def document(app: FastAPI, public_prefixes: tuple[str, ...] = ("/api/",)) -> None:
    """Every error answer in the OpenAPI document is application/problem+json with the Problem schema
    (FastAPI would document its own 422 body otherwise)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in [p for p in spec.get("paths", {}) if p.startswith("/asyncapi")]:
            del spec["paths"][path]  # FastStream's documents of the Kafka contract, not API operations
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(components["Problem"].pop("$defs", {}))
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, operations in spec.get("paths", {}).items():
            if not path.startswith(public_prefixes):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                codes = {401, 422} | ({404} if "{" in path else set())
                codes |= {int(c) for c in responses if c.isdigit() and int(c) >= 400}
                for code in sorted(codes):
                    described = responses.get(str(code), {}).get("description") or ERROR_TITLES.get(code, "Error")
                    responses[str(code)] = {"description": described, "content": problem}
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
