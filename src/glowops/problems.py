"""RFC 9457 problem details: the one builder of every error body glowops answers.

::

    from glowops.problems import problem_response
    return problem_response(404, "No dashboard 'x'.")          # Starlette/FastAPI handlers
    await send_problem(send, 401, "Needs the ops token.")      # raw ASGI endpoints

The body carries ``type`` (``about:blank`` unless given), ``title`` (the status phrase unless
given), ``status``, ``detail``, the request ID when a request is being served, and any extra
members. The detail is a fixed sentence written for the caller: never exception text, never a
secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Send

from glowops.telemetry.context import current_request_id

__all__ = ["PROBLEM_JSON", "problem_body", "problem_bytes", "problem_response", "send_problem"]

PROBLEM_JSON = "application/problem+json"
_NO_STORE = {"Cache-Control": "no-store"}


def problem_body(
    status: int, detail: str, *, title: str | None = None, type_: str = "about:blank", **extra: Any
) -> dict[str, Any]:
    """The problem as a dict (for a caller that nests it or renders it differently)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body: dict[str, Any] = {"type": type_, "title": title or phrase, "status": status, "detail": detail}
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return body


def problem_bytes(status: int, detail: str, **members: Any) -> bytes:
    """The JSON body of a problem."""
    return orjson.dumps(problem_body(status, detail, **members))


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A Starlette ``application/problem+json`` response (``Cache-Control: no-store``)."""
    body = problem_bytes(status, detail, title=title, type_=type_, **extra)
    return Response(
        body, status_code=status, media_type=PROBLEM_JSON, headers={**_NO_STORE, **(headers or {})}
    )


def problem_messages(
    status: int, detail: str, *, headers: Iterable[tuple[bytes, bytes]] = (), **members: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two ASGI messages (start, body) of a problem answer."""
    body = problem_bytes(status, detail, **members)
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            *headers,
        ],
    }
    return start, {"type": "http.response.body", "body": body, "more_body": False}


async def send_problem(
    send: Send, status: int, detail: str, *, headers: Iterable[tuple[bytes, bytes]] = (), **members: Any
) -> None:
    """Answer a raw ASGI request with a problem."""
    start, body = problem_messages(status, detail, headers=headers, **members)
    await send(start)
    await send(body)
