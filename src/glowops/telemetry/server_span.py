"""The SERVER span of each HTTP request: a :class:`~glowops.telemetry.hooks.RequestHook`.

One span per request, started by the glowops middleware before the app runs and ended after
it, named ``METHOD /route/{template}`` once routing has found the template, with the stable
HTTP semantic-convention attributes. The span is the current span while the app runs, so log
lines, SQL, Redis and outgoing HTTP calls of the request carry its trace_id and become its
children. An incoming W3C ``traceparent``/``tracestate`` makes it the continuation of the
caller's trace.

The span is a :class:`ServerSpan`, not the SDK's span: the SDK span validates its attributes
twice (sampler result and span), takes a lock per change and copies itself into a
``ReadableSpan`` at the end, about 44 µs per request. A :class:`ServerSpan` is an
``opentelemetry.trace.Span`` for the rest of the process (it is put in the OpenTelemetry
context, children parent to it, ``get_current_span()`` returns it, application code can set
attributes, add events and links, set the status) and an SDK ``ReadableSpan`` for the span
processors and exporters, which receive the span itself at the end. What is kept from the
SDK: the tracer's sampler, id generator, resource, instrumentation scope, span limits and span
processors, called exactly as ``Tracer.start_span`` calls them. What is saved: the attributes
glowops sets itself come from code or closed sets and skip validation (values set by
application code through the ``Span`` API are validated and limited like the SDK does).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Mapping, MutableMapping, Sequence
from time import time_ns
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes, _clean_attribute_value
from opentelemetry.context import Context
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util import types
from starlette.types import Scope

from glowops.telemetry.hooks import UNMATCHED_ROUTE

__all__ = ["ServerSpan", "ServerSpanHook"]

_log = logging.getLogger("opentelemetry.sdk.trace")  # the SDK span's warnings, same logger
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_W3C = TraceContextTextMapPropagator()
_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"
_USER_AGENT = b"user-agent"
_HOST = b"host"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_set_span_in_context = trace.set_span_in_context
_get_current_span = trace.get_current_span
_attach = otel_context.attach
_detach = otel_context.detach
_SERVER = SpanKind.SERVER
_UNSET = Status(StatusCode.UNSET)
# TraceFlags objects for (sampled, random trace id), made once
_FLAGS = {
    (sampled, random_id): TraceFlags(
        (TraceFlags.SAMPLED if sampled else 0) | (TraceFlags.RANDOM_TRACE_ID if random_id else 0)
    )
    for sampled in (False, True)
    for random_id in (False, True)
}


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


class _Pipeline:
    """What every span of one SDK tracer shares: resource, scope, limits, processors."""

    def __init__(self, tracer: sdk_trace.Tracer) -> None:
        self.tracer = tracer
        self.sampler = tracer.sampler
        self.ids = tracer.id_generator
        self.random_ids = tracer.id_generator.is_trace_id_random()
        self.processor = tracer.span_processor
        self.resource = tracer.resource
        self.scope = tracer._instrumentation_scope
        self.info = tracer.instrumentation_info
        limits = tracer._span_limits
        self.max_attributes: int | None = limits.max_span_attributes
        self.max_value_length: int | None = limits.max_span_attribute_length
        self.max_events: int | None = limits.max_events
        self.max_links: int | None = limits.max_links
        self.max_event_attributes: int | None = limits.max_event_attributes
        self.max_link_attributes: int | None = limits.max_link_attributes
        self.max_attribute_length: int | None = limits.max_attribute_length
        # glowops' own attributes (at most 12) go in unchecked unless limits could bite
        self.unchecked = self.max_value_length is None and (
            self.max_attributes is None or self.max_attributes >= 16
        )
        self.span_class: type[ServerSpan] = type(
            "ServerSpan",
            (ServerSpan,),
            {
                "__module__": __name__,
                "_pipeline": self,
                "_resource": self.resource,
                "_instrumentation_scope": self.scope,
                "_instrumentation_info": self.info,
            },
        )


# One lock for the changes of every ServerSpan: a critical section is a few dict operations,
# and a lock per span would be one more object per request.
_LOCK = threading.Lock()


class ServerSpan(trace.Span, ReadableSpan):
    """A recording span that is its own ``ReadableSpan`` (see the module docs).

    Made by :class:`ServerSpanHook` (through a subclass per tracer that holds the tracer's
    resource, scope and processors as class attributes); not meant to be created by
    application code. Changes after :meth:`end` are ignored with a warning, like the SDK's.
    Changes from other threads are safe: ``end`` and the setters take a lock.
    """

    # the ReadableSpan fields that do not vary per request
    _kind = _SERVER
    _links: Sequence[trace.Link] = ()
    _events: Sequence[Event] = ()
    _status = _UNSET
    _end_time: int | None = None
    _dropped_attributes = 0
    _dropped_events = 0
    _dropped_links = 0
    # True while the name and attributes are only glowops' own (the exporter may then skip
    # the redaction of the trusted ones); application code setting either makes it False.
    _own = True
    _context: SpanContext
    _attributes: dict[str, Any]  # type: ignore[assignment]  # a plain dict, not BoundedAttributes
    # set per tracer by _Pipeline
    _pipeline: _Pipeline
    _resource: Any
    _instrumentation_scope: Any
    _instrumentation_info: Any
    _lock = _LOCK

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        attributes: dict[str, Any],
        start_time: int,
        record_end_metrics: Any,
    ) -> None:
        self._name = name
        self._context = context
        self._parent = parent
        self._attributes = attributes
        self._start_time = start_time
        self._record_end_metrics = record_end_metrics

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name="{self._name}", context={self._context})'

    # --- ReadableSpan -------------------------------------------------------------------------
    @property
    def dropped_attributes(self) -> int:
        return self._dropped_attributes

    @property
    def dropped_events(self) -> int:
        return self._dropped_events

    @property
    def dropped_links(self) -> int:
        return self._dropped_links

    def get_span_context(self) -> SpanContext:
        return self._context

    # --- trace.Span ---------------------------------------------------------------------------
    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        with self._lock:
            if self._end_time is not None:
                _log.warning("Setting attribute on ended span.")
                return
            self._own = False
            self._set_checked(key, value)

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        with self._lock:
            if self._end_time is not None:
                _log.warning("Setting attribute on ended span.")
                return
            self._own = False
            for key, value in attributes.items():
                self._set_checked(key, value)

    def _set_checked(self, key: str, value: Any) -> None:
        """Set one attribute the way the SDK's ``BoundedAttributes`` does (clean, cut, evict)."""
        pipeline = self._pipeline
        maxlen = pipeline.max_attributes
        if maxlen == 0:
            self._dropped_attributes += 1
            return
        if not key or not isinstance(key, str):
            _log.warning("invalid key `%s`. must be non-empty string. Dropping key from attributes.", key)
            self._dropped_attributes += 1
            return
        cleaned = _clean_attribute_value(value, pipeline.max_value_length)
        attributes = self._attributes
        attributes.pop(key, None)
        if maxlen is not None and len(attributes) >= maxlen:
            _log.warning(
                "Attributes dict is full. Dropping the oldest key-value pair from attributes "
                "to make space for the new key-value pair."
            )
            del attributes[next(iter(attributes))]
            self._dropped_attributes += 1
        attributes[key] = cleaned

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        pipeline = self._pipeline
        event = Event(
            name,
            BoundedAttributes(
                pipeline.max_event_attributes,
                attributes,
                immutable=True,
                max_value_len=pipeline.max_attribute_length,
            ),
            timestamp,
        )
        with self._lock:
            if self._end_time is not None:
                _log.warning("Tried calling %s on an ended span.", "_add_event")
                return
            self._events, self._dropped_events = _bounded_append(
                self._events, event, pipeline.max_events, self._dropped_events
            )

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if not (context and (context.is_valid or (attributes or context.trace_state))):
            return
        pipeline = self._pipeline
        link = trace.Link(
            context,
            BoundedAttributes(
                pipeline.max_link_attributes,
                attributes,
                immutable=True,
                max_value_len=pipeline.max_attribute_length,
            ),
        )
        with self._lock:
            if self._end_time is not None:
                _log.warning("Tried calling %s on an ended span.", "_add_link")
                return
            self._links, self._dropped_links = _bounded_append(
                self._links, link, pipeline.max_links, self._dropped_links
            )

    def update_name(self, name: str) -> None:
        with self._lock:
            if self._end_time is not None:
                _log.warning("Tried calling %s on an ended span.", "update_name")
                return
            self._own = False
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # the SDK's rules: OK is final, UNSET is ignored, a Status ignores `description`
        with self._lock:
            if self._end_time is not None:
                _log.warning("Tried calling %s on an ended span.", "set_status")
                return
            if self._status.status_code is StatusCode.OK:
                return
            if isinstance(status, Status):
                if status.status_code is StatusCode.UNSET:
                    return
                if description is not None:
                    _log.warning(
                        "Description %s ignored. Use either `Status` or `(StatusCode, Description)`",
                        description,
                    )
                self._status = status
            elif isinstance(status, StatusCode) and status is not StatusCode.UNSET:
                self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """An ``exception`` event with the attributes the SDK gives it."""
        module = type(exception).__module__
        qualname = type(exception).__qualname__
        event_attributes: MutableMapping[str, Any] = {
            "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            event_attributes.update(attributes)
        self.add_event("exception", event_attributes, timestamp)

    def end(self, end_time: int | None = None) -> None:
        with self._lock:
            if self._end_time is not None:
                _log.warning("Calling end() on an ended span.")
                return
            self._end_time = end_time if end_time is not None else time_ns()
        self._record_end_metrics()
        processor = self._pipeline.processor
        processor._on_ending(self)  # type: ignore[arg-type]  # the SDK hands its own Span here
        processor.on_end(self)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if exc_val is not None and self.is_recording():
            self.record_exception(exc_val, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        self.end()


def _bounded_append(
    items: Sequence[Any], item: Any, limit: int | None, dropped: int
) -> tuple[list[Any], int]:
    """``items`` + ``item``, the oldest dropped beyond ``limit`` (the SDK's ``BoundedList``)."""
    out = list(items)
    if limit == 0:
        return out, dropped + 1
    out.append(item)
    if limit is not None and len(out) > limit:
        del out[0]
        dropped += 1
    return out, dropped


class ServerSpanHook:
    """Creates, names and ends the SERVER span of each request (see the module docs)."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        # Only an SDK tracer exposes what a ServerSpan needs; any other tracer (a proxy, a
        # no-op one) gets the generic path.
        self._pipeline = _Pipeline(tracer) if isinstance(tracer, sdk_trace.Tracer) else None

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
        pipeline = self._pipeline
        if pipeline is None or not pipeline.tracer._is_enabled():
            span = self.tracer.start_span(method, parent, _SERVER, attributes)
        else:
            span = _start_span(pipeline, method, parent, attributes)
        token = _attach(_set_span_in_context(span, parent))
        return span, token, method

    def finish(self, handle: Any, status: int, route: str, exc: BaseException | None) -> None:
        if handle is None:
            return
        span, token, method = handle
        try:
            pipeline = self._pipeline
            if (
                pipeline is not None
                and span.__class__ is pipeline.span_class
                and span._end_time is None
                and pipeline.unchecked
            ):
                # our own attributes, from code and closed sets: straight into the dict
                attributes = span._attributes
                if route != UNMATCHED_ROUTE:
                    span._name = f"{method} {route}"
                    attributes["http.route"] = route
                attributes["http.response.status_code"] = status
                if exc is not None or status >= 500:
                    _mark_error(span, status, exc)
            elif span.is_recording():
                if route != UNMATCHED_ROUTE:
                    span.update_name(f"{method} {route}")
                    span.set_attributes({"http.route": route, "http.response.status_code": status})
                else:
                    span.set_attribute("http.response.status_code", status)
                if exc is not None or status >= 500:
                    _mark_error(span, status, exc)
            span.end()
        finally:
            _detach(token)


def _mark_error(span: trace.Span, status: int, exc: BaseException | None) -> None:
    if exc is not None:
        # the message and traceback pass the redaction policy on export
        span.record_exception(exc, escaped=True)
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
    else:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))


def _start_span(
    pipeline: _Pipeline, name: str, parent: Context | None, attributes: dict[str, Any]
) -> trace.Span:
    """``Tracer.start_span(name, parent, SERVER, attributes)`` of the SDK, step for step, making
    a :class:`ServerSpan` where the SDK makes its span."""
    parent_context: SpanContext | None = _get_current_span(parent).get_span_context()
    if parent_context is None or not parent_context.is_valid:
        parent_context = None
        trace_id = pipeline.ids.generate_trace_id()
        random_id = pipeline.random_ids
    else:
        trace_id = parent_context.trace_id
        random_id = parent_context.trace_flags.random_trace_id
    result = pipeline.sampler.should_sample(parent, trace_id, name, _SERVER, attributes, ())
    decision = result.decision
    context = SpanContext(
        trace_id,
        pipeline.ids.generate_span_id(),
        False,
        _FLAGS[decision.is_sampled(), random_id],  # type: ignore[no-untyped-call]
        result.trace_state,
    )
    record_end_metrics = pipeline.tracer._tracer_metrics.start_span(parent_context, decision)
    if not decision.is_recording():  # type: ignore[no-untyped-call]
        return NonRecordingSpan(context)
    sampled_attributes = result.attributes
    if pipeline.unchecked:
        # The sampler returns what it was given (wrapped read-only) or its own attributes.
        own = dict(sampled_attributes) if sampled_attributes else {}
        span = pipeline.span_class(name, context, parent_context, own, time_ns(), record_end_metrics)
    else:
        span = pipeline.span_class(name, context, parent_context, {}, time_ns(), record_end_metrics)
        for key, value in (sampled_attributes or {}).items():
            span._set_checked(key, value)
    pipeline.processor.on_start(span, parent_context=parent)  # type: ignore[arg-type]
    return span
