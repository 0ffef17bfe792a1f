"""Hook points of the glowops middleware for tracing and error reporting.

The middleware (:mod:`glowops.telemetry.middleware`) does request IDs, context, the access
line and RED metrics itself. Anything else that must wrap a request (the OpenTelemetry server
span, Sentry error capture) plugs in as a :class:`RequestHook`. When tracing or Sentry are off,
no hook is installed and the middleware pays nothing for them.

Call order for one HTTP request, all in the request's own task and context::

    handle_t = tracer.start(scope, request_id)          # before the app runs
    handle_e = error_reporter.start(scope, request_id)
    ... the app runs (routing sets the route template) ...
    error_reporter.finish(handle_e, status, route, exc) # reverse order: the span is still
    tracer.finish(handle_t, status, route, exc)         # current while errors are reported

Rules for implementers:

- ``start`` runs before the app, after the request-ID and context vars are set, so
  :func:`glowops.telemetry.context.current_request_id` and friends already answer. A tracer
  may attach its span to the OpenTelemetry context in ``start`` and detach it in ``finish``
  (same task, so the token is valid); log lines written in between then carry trace_id/span_id.
- ``finish`` always runs exactly once per ``start``, also when the app raised. ``status`` is
  the status sent to the client (500 when the app raised before a response started);
  ``route`` is the matched route template (``/orgs/{org_id}/documents``) or
  :data:`UNMATCHED_ROUTE`; ``exc`` is the unhandled exception or None. user_id and org_id set by
  the app during the request are readable from the context vars in ``finish``.
- Hooks must not raise: the middleware logs a hook failure once per hook and carries on, but a
  hook that raises on every request still costs a traceback's worth of time.
- ``scope`` is the raw ASGI scope: headers are a list of (bytes, bytes) pairs, lower-case names.
  :func:`header` reads one cheaply.

How :func:`glowops.instrument` finds the hooks: unless the caller passes ``tracer=`` /
``error_reporter=``, it imports ``glowops.telemetry.tracing`` and ``glowops.telemetry.errors``
(when they exist) and calls their ``create_hook(settings) -> RequestHook | None``; None means
"off" (no OTLP endpoint, no DSN). ``instrument(app, tracer=False)`` disables one explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from starlette.types import Scope

UNMATCHED_ROUTE = "<unmatched>"
"""Route label of requests no route matched (404s): one value, whatever the raw path."""


@runtime_checkable
class RequestHook(Protocol):
    """Something that wraps each HTTP request: a tracer or an error reporter."""

    def start(self, scope: Scope, request_id: str) -> Any:
        """Called before the app runs; returns a handle passed back to :meth:`finish`."""
        ...

    def finish(self, handle: Any, status: int, route: str, exc: BaseException | None) -> None:
        """Called once after the app returned or raised (see the module docs for arguments)."""
        ...


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of request header ``name`` (lower-case bytes), or None."""
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers") or ()
    for key, value in headers:
        if key == name:
            return value
    return None
