"""Request-body limits enforced in the ASGI layer, before routing, authentication or parsing.

A ``Content-Length`` above the route's limit is answered 413 at once, without reading a byte
of the body. A body without one (chunked) is counted as it streams and cut off as soon as it
crosses the limit: the reader gets :class:`BodyTooLarge`, and whatever the application then
answers (FastAPI turns a failed body read into a 400) is replaced by the 413 problem.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prisma_glow_gateway.problems import problem_response

LimitFor = Callable[[str, str], int]
"""(method, path) -> the most bytes a request body may have."""


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body crosses its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


def _too_large(limit: int) -> Response:
    return problem_response(
        413,
        f"The request body is larger than the {limit}-byte limit of this endpoint.",
        error_type="body_too_large",
        max_bytes=limit,
        headers={"Connection": "close"},
    )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimit:
    """ASGI middleware refusing request bodies over ``limit_for(method, path)`` bytes."""

    def __init__(self, app: ASGIApp, limit_for: LimitFor) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        crossed = False
        started = False

        async def counted() -> Message:
            nonlocal received, crossed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    crossed = True
                    raise BodyTooLarge(limit)
            return message

        async def answer(message: Message) -> None:
            nonlocal started
            if crossed:
                # Whatever the application answers to the cut-off body, the client gets the 413.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _too_large(limit)(scope, receive, send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, answer)
        except BodyTooLarge:
            if not started:
                started = True
                await _too_large(limit)(scope, receive, send)
