"""RFC 9457 problem details for every error the gateway answers.

Raise :class:`Problem` from domain code; HTTP exceptions, validation errors and unhandled
exceptions are converted by the handlers installed by :func:`install_problem_handlers`.
Nothing of an exception's text or stack reaches the client: a 500 says only that the server
failed, with the request ID to quote. Validation errors name the offending fields, never the
values that were sent (they may be passwords).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

import glowops
from glowops.problems import problem_response as build_problem

_RLS_TABLE = re.compile(r'row-level security policy for table "([^"]+)"')


class Problem(Exception):
    """An error answer: ``status`` plus a human ``detail`` (and optional extra members)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """The problem answer, built by glowops' one builder (request ID included)."""
    return build_problem(status, detail, title=title, type_=type_, headers=headers, **extra)


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(
        exc.status, exc.detail, title=exc.title, type_=exc.type, headers=exc.headers, **exc.extra
    )


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(exc.status_code, detail, headers=dict(exc.headers or {}))


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")] or [str(loc[-1])]
    return ".".join(parts)


def _json_position(document: Any, offset: int) -> tuple[int, int]:
    """Line and column (both from 1) of a character offset into the body that failed to parse."""
    if isinstance(document, bytes | bytearray):
        document = bytes(document).decode("utf-8", errors="replace")
    text = document if isinstance(document, str) else ""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _malformed_json(exc: RequestValidationError, error: dict[str, Any]) -> Response:
    """400 naming where the body stops being JSON (never echoing the body itself)."""
    loc = tuple(error.get("loc", ()))
    offset = loc[-1] if loc and isinstance(loc[-1], int) else 0
    line, column = _json_position(getattr(exc, "body", None), offset)
    reason = str((error.get("ctx") or {}).get("error") or "not valid JSON")
    return problem_response(
        400,
        f"The request body is not valid JSON: {reason} at line {line}, column {column}.",
        title="Malformed JSON",
        errors=[{"field": "body", "message": reason, "line": line, "column": column}],
    )


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            return _malformed_json(exc, error)
    errors = [
        {"field": _field(tuple(err.get("loc", ()))), "message": str(err.get("msg", "invalid"))}
        for err in exc.errors()
    ]
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem_response(
        422, f"The request is invalid: check {fields}.", title="Invalid request", errors=errors
    )


async def _on_dependency(request: Request, exc: Exception) -> Response:
    """A frozen, stopped or exhausted dependency: a fast 503 with Retry-After (else a 500)."""
    from prisma_glow_gateway.outages import RETRY_AFTER_SECONDS, classify, detail_for, record

    outage = classify(exc)
    if outage is None:
        raise exc  # not an outage: the 500 path logs and reports it
    dependency, reason = outage
    route = request.scope.get("route")
    record(dependency, reason, str(getattr(route, "path", "")) or "unmatched")
    return problem_response(
        503,
        detail_for(dependency),
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        dependency=dependency,
    )


async def _on_database(request: Request, exc: Exception) -> Response:
    """A write refused by a row-level-security policy is a security event, not a server error."""
    assert isinstance(exc, DBAPIError)
    from prisma_glow_gateway.outages import classify

    if classify(exc) is not None:
        return await _on_dependency(request, exc)
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    match = _RLS_TABLE.search(str(orig))
    if sqlstate == "42501" and match is not None:
        from prisma_glow_gateway.deps import client_of, gateway_of, route_of  # avoid an import cycle

        gateway = gateway_of(request)
        principal = getattr(request.state, "principal", None)
        await gateway.security.record(
            "rls_denied",
            match.group(1),
            org_id=getattr(principal, "org_id", None),
            user_id=getattr(principal, "user_id", None),
            client=client_of(request),
            route=route_of(request),
            detail={"source": "database_policy"},
        )
        return problem_response(403, "This change touches data outside your organisation.")
    # Answered here rather than re-raised, so the error is logged here.
    glowops.get_logger("prisma_glow_gateway").error("database_error", exc_info=exc)
    return await _on_unhandled(request, exc)


async def _on_unhandled(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer: the glowops middleware logs and reports it.
    return problem_response(
        500, "The server failed to answer this request; quote the request_id if you report it."
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(DBAPIError, _on_database)
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    from prisma_glow_gateway.outages import DependencyUnavailable

    for outage in (SQLAlchemyError, RedisError, TimeoutError, OSError, DependencyUnavailable):
        app.add_exception_handler(outage, _on_dependency)
    app.add_exception_handler(Exception, _on_unhandled)
