"""The SERVER span of each HTTP request: a :class:`~glowops.telemetry.hooks.RequestHook`.

One span per request, started by the glowops middleware before the app runs and ended after
it, named ``METHOD /route/{template}`` once routing has found the template, with the stable
HTTP semantic-convention attributes. The span is the current span while the app runs, so log
lines, SQL, Redis and outgoing HTTP calls of the request carry its trace_id and become its
children. An incoming W3C ``traceparent``/``tracestate`` makes it the continuation of the
caller's trace.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import Scope

from glowops.telemetry.hooks import UNMATCHED_ROUTE

__all__ = ["ServerSpanHook"]

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_W3C = TraceContextTextMapPropagator()
_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"
_USER_AGENT = b"user-agent"
_HOST = b"host"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_set_span_in_context = trace.set_span_in_context
_attach = otel_context.attach
_detach = otel_context.detach
_SERVER = SpanKind.SERVER


def _server_address(host: bytes | None, scope: Scope) -> tuple[str | None, int | None]:
    """server.address/port from the Host header (what the client asked for), else the socket."""
    if host:
        text = host.decode("latin-1")
        if text.startswith("["):  # an IPv6 literal: [::1]:8000
            end = text.find("]")
            name, rest = (text[1:end], text[end + 1 :]) if end > 0 else (text, "")
            port = rest[1:] if rest.startswith(":") else ""
        else:
            name, _, port = text.partition(":")
        return name, int(port) if port.isdigit() else _DEFAULT_PORTS.get(scope.get("scheme", "http"))
    server = scope.get("server")
    if server:
        return str(server[0]), server[1]
    return None, None


class ServerSpanHook:
    """Creates, names and ends the SERVER span of each request (see the module docs)."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    def start(self, scope: Scope, request_id: str) -> Any:
        traceparent = tracestate = user_agent = host = None
        for key, value in scope["headers"]:
            if key == _TRACEPARENT:
                traceparent = value
            elif key == _TRACESTATE:
                tracestate = value
            elif key == _USER_AGENT:
                user_agent = value
            elif key == _HOST:
                host = value
        parent = None
        if traceparent is not None:
            carrier = {"traceparent": traceparent.decode("latin-1")}
            if tracestate is not None:
                carrier["tracestate"] = tracestate.decode("latin-1")
            parent = _W3C.extract(carrier)
        method = scope["method"]
        if method not in _KNOWN_METHODS:
            method = "_OTHER"
        # Attributes go in at creation: one validation pass instead of one lock per attribute.
        # The request ID is not repeated here: log lines carry both it and the trace_id.
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        if method == "_OTHER":
            attributes["http.request.method_original"] = scope["method"]
        address, port = _server_address(host, scope)
        if address:
            attributes["server.address"] = address
        if port:
            attributes["server.port"] = port
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        if user_agent:
            attributes["user_agent.original"] = user_agent.decode("latin-1")
        span = self.tracer.start_span(method, parent, _SERVER, attributes)
        token = _attach(_set_span_in_context(span, parent))
        return span, token, method

    def finish(self, handle: Any, status: int, route: str, exc: BaseException | None) -> None:
        if handle is None:
            return
        span, token, method = handle
        try:
            if span.is_recording():
                if route != UNMATCHED_ROUTE:
                    span.update_name(f"{method} {route}")
                    span.set_attributes({"http.route": route, "http.response.status_code": status})
                else:
                    span.set_attribute("http.response.status_code", status)
                if exc is not None:
                    # the message and traceback pass the redaction policy on export
                    span.record_exception(exc, escaped=True)
                    span.set_attribute("error.type", type(exc).__qualname__)
                    span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
                elif status >= 500:
                    span.set_attribute("error.type", str(status))
                    span.set_status(Status(StatusCode.ERROR))
            span.end()
        finally:
            _detach(token)
