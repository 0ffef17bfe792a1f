"""Diagnostic routes for end-to-end checks of logs, traces, errors and latency alerts.

Mounted only when ``GLOWOPS_DIAGNOSTICS=1``, behind the ops guard (the ops token, else loopback
only; see :mod:`glowops.ops_guard`): ``GET /diagnostics/error`` raises an unhandled exception
whose message looks like it carries secrets (to see that none reaches the log line, the span or
the Sentry event); ``GET /diagnostics/slow?seconds=N`` answers after N seconds (0-5: enough to
cross the latency alert's threshold, too little to pin connections)::

    curl -i -H "Authorization: Bearer $GLOWOPS_OPS_TOKEN" localhost:8000/diagnostics/error
    curl -i -H "Authorization: Bearer $GLOWOPS_OPS_TOKEN" 'localhost:8000/diagnostics/slow?seconds=2.5'
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from glowops.ops_guard import OpsGuard
from glowops.problems import problem_response

__all__ = ["DiagnosticError", "mount_diagnostics"]

MAX_SLOW_SECONDS = 5.0
# Looks like secrets of several kinds; all are fake. Redaction must mask every one of them.
PLANTED_MESSAGE = (
    "diagnostic failure for ops.test@example.com: password=diag-hunter2 "
    "card 4111 1111 1111 1111 token=ghp_D1agn0st1cT0kenXXXXXXXXXXXXXXXXXXXXX"
)


class DiagnosticError(RuntimeError):
    """Raised on purpose by ``/diagnostics/error``."""


async def _error(request: Request) -> Response:
    raise DiagnosticError(PLANTED_MESSAGE)


async def _slow(request: Request) -> Response:
    raw = request.query_params.get("seconds", "1")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_SLOW_SECONDS):
        return problem_response(422, f"seconds must be a number from 0 to {MAX_SLOW_SECONDS:g}.")
    await asyncio.sleep(seconds)
    return JSONResponse({"slept_seconds": seconds})


def _guarded(
    guard: OpsGuard, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        refusal = await guard.guard_request(request, "/diagnostics")
        return refusal if refusal is not None else await handler(request)

    return endpoint


def mount_diagnostics(app: Starlette, guard: OpsGuard) -> None:
    """Add ``/diagnostics/error`` and ``/diagnostics/slow`` behind ``guard`` to ``app`` (idempotent)."""
    if getattr(app, "_glowops_diagnostics", False):
        return
    app.router.routes.extend(
        [
            Route("/diagnostics/error", _guarded(guard, _error), methods=["GET"], include_in_schema=False),
            Route("/diagnostics/slow", _guarded(guard, _slow), methods=["GET"], include_in_schema=False),
        ]
    )
    app._glowops_diagnostics = True  # type: ignore[attr-defined]
