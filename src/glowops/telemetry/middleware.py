"""The glowops middleware: one pure-ASGI pass per request.

For each HTTP request it accepts or replaces ``X-Request-ID``, makes the request context
current, runs the app, returns the ID on the response (404s and 500s included), counts RED
metrics under the matched route template, and writes one canonical access line. Tracing and
error reporting plug in as optional hooks (:mod:`glowops.telemetry.hooks`).

Everything that can be decided at start-up is: metric families, the label children (cached per
method/route/status), the hook tuple. The per-request work is a header scan, one context-var
set, a closure around ``send`` and a handful of dict look-ups.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glowops.redaction import RedactionPolicy
from glowops.telemetry import context as request_context
from glowops.telemetry import listener
from glowops.telemetry import logging as glowops_logging
from glowops.telemetry.hooks import UNMATCHED_ROUTE, RequestHook
from glowops.telemetry.metrics import Metrics
from glowops.telemetry.metrics import metrics as default_metrics

__all__ = ["GlowopsMiddleware", "route_template"]

_log = logging.getLogger("glowops.middleware")
# Bound once: module attribute look-ups on the hot path add up.
_accept_request_id = request_context.accept_request_id
_new_request_id = request_context.new_request_id
_RequestContext = request_context.RequestContext
_enter = request_context.enter
_leave = request_context.leave
_access_line = glowops_logging.access_line
_perf = time.perf_counter
_REQUEST_ID = b"x-request-id"
REPLACED_IDS_METRIC = "glowops_request_ids_replaced"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
MOUNT_PREFIX_KEY = "glowops.mount_prefix"


def route_template(scope: Scope) -> str:
    """The matched route template of a request that has been routed, or UNMATCHED_ROUTE.

    Reads what the router left in the scope; never matches routes again. FastAPI's included
    routers keep their own (unprefixed) route objects, so the effective route context that
    FastAPI records is preferred when it belongs to the matched route. Mounted apps add their
    mount path through :class:`MountPrefix`; a mount whose app has no route of its own (static
    files) or no matching one is labelled ``<mount>/{path}``.
    """
    route = scope.get("route")
    prefix: str | None = scope.get(MOUNT_PREFIX_KEY)
    if route is None or isinstance(route, Mount):
        if prefix:
            return prefix + "/{path}"
        return UNMATCHED_ROUTE if route is None else str(route.path) + "/{path}"
    path: str | None = None
    fastapi_state = scope.get("fastapi")
    if fastapi_state:
        effective = fastapi_state.get("effective_route_context")
        if effective is not None and effective.original_route is route:
            path = effective.path
    if path is None:
        path = getattr(route, "path", None)
        if path is None:
            return UNMATCHED_ROUTE
    return prefix + path if prefix else path


class MountPrefix:
    """Wraps a mounted app to record the mount's path template in the scope."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[MOUNT_PREFIX_KEY] = scope.get(MOUNT_PREFIX_KEY, "") + self.path
        await self.app(scope, receive, send)


class RouteMarker:
    """Wraps a plain Starlette route's app to record the route in the scope.

    FastAPI's router (0.137+) records only its own APIRoute objects in ``scope["route"]``;
    plain ``Route``s added with ``add_route`` would otherwise look unmatched.
    """

    def __init__(self, app: ASGIApp, route: Route) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route
        await self.app(scope, receive, send)


def mark_routes(routes: list[Any]) -> None:
    """Wrap mounts and plain routes (recursively) so the scope names them; idempotent."""
    for route in routes:
        if isinstance(route, Mount) and not isinstance(route.app, MountPrefix):
            inner_routes = getattr(route, "routes", None)
            route.app = MountPrefix(route.app, route.path)
            if inner_routes:
                mark_routes(inner_routes)
        elif type(route) is Route and not isinstance(route.app, RouteMarker):
            route.app = RouteMarker(route.app, route)


def _problem_500(request_id: str) -> tuple[Message, Message]:
    from glowops.problems import problem_messages  # imports this package: loaded on first use

    return problem_messages(500, "The server failed to answer this request.", request_id=request_id)


class GlowopsMiddleware:
    """Request IDs, request context, RED metrics, access line and hooks in one ASGI layer.

    Args:
        app: the ASGI app to wrap.
        policy: the redaction policy; a client's ``X-Request-ID`` in which it finds anything
            is replaced (see :func:`~glowops.telemetry.context.accept_request_id`).
        tracer: optional :class:`RequestHook` creating the server span (None: no tracing cost).
        error_reporter: optional :class:`RequestHook` reporting unhandled errors and 5xx.
        access_log: write the canonical access line (needs ``configure_logging``).
        metrics: the facade whose registry holds the HTTP metrics.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: RedactionPolicy,
        tracer: RequestHook | None = None,
        error_reporter: RequestHook | None = None,
        access_log: bool = True,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.policy = policy
        self.tracer = tracer
        self.error_reporter = error_reporter
        self.access_log = access_log
        facade = metrics or default_metrics
        self._requests = facade.metric("http_requests")
        self._durations = facade.metric("http_request_duration_seconds")
        in_flight = facade.metric("http_requests_in_flight")
        # the lock-free family's single child directly: one call less per inc/dec
        self._in_flight = getattr(in_flight, "_root", None) or in_flight
        self._request_children: dict[tuple[str, str, int], Any] = {}
        # keyed like the counter (method, route, status) to share one key tuple per request
        self._duration_children: dict[tuple[str, str, int], Any] = {}
        self._failed_hooks: set[int] = set()
        self._facade = facade

    def _request_id(self, scope: Scope) -> str:
        """The client's request ID when safe, else a fresh one (the replacement is counted).

        A replaced ID is replaced in the request's headers too, so that the app, error reports
        (Sentry's frame variables hold the ASGI scope) and outgoing calls never see the original.
        """
        raw = None
        for key, value in scope["headers"]:
            if key == _REQUEST_ID:
                raw = value
                break
        if raw is None:
            return _new_request_id()
        request_id, replaced = _accept_request_id(raw, self.policy)
        if replaced is not None:
            self._facade.counter(REPLACED_IDS_METRIC, tags={"reason": replaced})
            fresh = request_id.encode("ascii")
            headers = scope["headers"]
            scope["headers"] = [(key, fresh if key == _REQUEST_ID else value) for key, value in headers]
        return request_id

    @property
    def hooks(self) -> tuple[RequestHook, ...]:
        """Installed hooks in start order (tracer first, so errors see the current span)."""
        return tuple(hook for hook in (self.tracer, self.error_reporter) if hook is not None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if listener.unknown():
            listener.observe(scope)

        started_at = _perf()
        # In a method of its own: a replaced original must not stay in this frame, whose
        # variables an error report captures.
        request_id = self._request_id(scope)
        ctx = _RequestContext(request_id)
        token = _enter(ctx)
        id_header = (_REQUEST_ID, request_id.encode("ascii"))
        status = 0
        sent = 0
        finished_at = 0.0

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent, finished_at
            if message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
                if not message.get("more_body", False):
                    finished_at = _perf()
            elif message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        tracer = self.tracer
        reporter = self.error_reporter
        trace_handle = error_handle = None
        if tracer is not None:
            trace_handle = self._start(tracer, scope, request_id)
        if reporter is not None:
            error_handle = self._start(reporter, scope, request_id)
        in_flight = self._in_flight
        in_flight.inc()
        failure: BaseException | None = None
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            failure = exc
            if status == 0:
                start, body = _problem_500(request_id)
                try:
                    await send_with_id(start)
                    await send_with_id(body)
                except Exception:  # the client is gone; nothing more to tell it
                    status = 500
            _log.error("unhandled exception", exc_info=exc)
            glowops_logging.mark_logged(exc)
            if finished_at == 0.0:
                # The answer is incomplete: the server must abort the connection.
                raise
            # Answered in full (the app's own 500 or ours): logged here and reported by the hook
            # below, once. Re-raising would only make the server drop the keep-alive connection,
            # so the client's next request on it would be reset.
        finally:
            in_flight.dec()
            end = finished_at or _perf()
            if status == 0:
                status = 500  # the app returned without answering
            method = scope["method"]
            if method not in _KNOWN_METHODS:
                method = "OTHER"
            route = route_template(scope)
            elapsed = end - started_at
            key = (method, route, status)
            counter = self._request_children.get(key)
            if counter is None:
                counter = self._request_children[key] = self._requests.labels(method, route, str(status))
            counter.inc()
            histogram = self._duration_children.get(key)
            if histogram is None:
                histogram = self._duration_children[key] = self._durations.labels(method, route)
            histogram.observe(elapsed)
            if self.access_log:
                _access_line(
                    method, route, scope["path"], status, elapsed * 1000.0, sent, ctx, tracer is not None
                )
            if reporter is not None:
                self._finish(reporter, error_handle, status, route, failure)
            if tracer is not None:
                self._finish(tracer, trace_handle, status, route, failure)
            _leave(token)

    def _start(self, hook: RequestHook, scope: Scope, request_id: str) -> Any:
        try:
            return hook.start(scope, request_id)
        except Exception:
            self._hook_failed(hook, "start")
            return None

    def _finish(
        self, hook: RequestHook, handle: Any, status: int, route: str, exc: BaseException | None
    ) -> None:
        try:
            hook.finish(handle, status, route, exc)
        except Exception:
            self._hook_failed(hook, "finish")

    def _hook_failed(self, hook: RequestHook, phase: str) -> None:
        if id(hook) not in self._failed_hooks:
            self._failed_hooks.add(id(hook))
            _log.exception("request hook %s.%s failed (logged once)", type(hook).__name__, phase)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSockets get a request ID and context, nothing else (no access line per message)."""
        ctx = request_context.RequestContext(self._request_id(scope))
        token = request_context.enter(ctx)
        try:
            await self.app(scope, receive, send)
        finally:
            request_context.leave(token)
