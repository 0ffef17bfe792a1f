"""glowops' hand-written OTLP encoder against the official one, through the real protobuf decoder.

Every batch is encoded twice, by ``glowops.telemetry.otlp_encoder.SpanEncoder`` and by the OTLP
exporter's own ``encode_spans``; the bytes glowops produces must parse to the same
``ExportTraceServiceRequest``, field for field.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import create_engine, text

from glowops.telemetry.otlp_encoder import SpanEncoder
from glowops.telemetry.server_span import ServerSpan, ServerSpanHook
from glowops.telemetry.tracing import instrument_sqlalchemy

EVERY_TYPE: dict[str, Any] = {
    "str": "hello",
    "empty": "",
    "unicode": "grüße ✓ 𝄞",
    "true": True,
    "false": False,
    "zero": 0,
    "int": 42,
    "negative": -7,
    "big": 2**62,
    "min": -(2**63),
    "float": 3.25,
    "negative_float": -0.5,
    "bytes": b"\x00\xffraw",
    "strings": ["a", "", "c"],
    "ints": (1, -2, 3),
    "bools": [True, False],
    "floats": [1.5, -2.0],
    "empty_list": [],
    "mapping": {"inner": "x", "n": 1, "nested": {"deep": [1, 2]}},
}
SCOPE_REQUEST = {
    "type": "http",
    "http_version": "1.1",
    "method": "POST",
    "scheme": "https",
    "path": "/orders/7",
    "server": ("10.0.0.1", 8443),
    "client": ("192.0.2.9", 40000),
    "query_string": b"",
    "headers": [(b"host", b"shop.example:8443"), (b"user-agent", b"curl/8.5.0")],
}


def decoded(payload: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    return request


def assert_same_as_official(spans: Sequence[ReadableSpan], encoder: SpanEncoder | None = None) -> None:
    official = encode_spans(spans)
    ours = decoded((encoder or SpanEncoder()).encode(spans))
    assert ours == official
    # stricter than ==: the same fields present (empty sub-messages included), same order
    assert ours.SerializeToString(deterministic=True) == official.SerializeToString(deterministic=True)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def provider_with(
    exporter: InMemorySpanExporter, resource: Resource | None = None, limits: SpanLimits | None = None
) -> TracerProvider:
    provider = TracerProvider(
        resource=resource or Resource.create({"service.name": "gateway", "n": 3}), span_limits=limits
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_attributes_of_every_type_events_links_status_and_kinds(exporter: InMemorySpanExporter) -> None:
    provider = provider_with(exporter)
    tracer = provider.get_tracer(
        "lib.a",
        "1.0",
        schema_url="https://opentelemetry.io/schemas/1.26.0",
        attributes={"scope.attr": "s", "scope.n": 2},
    )
    remote = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("vendor", "abc"), ("k", "v")]),
    )
    for kind in SpanKind:
        with tracer.start_as_current_span(f"kind {kind.name}", kind=kind, attributes=EVERY_TYPE) as span:
            span.add_event("plain")
            span.add_event(
                "with attributes",
                {"e.str": "x", "e.list": [1, 2], "e.bool": False},
                timestamp=1_700_000_000_123_456_789,
            )
            span.add_link(remote, {"link.reason": "retry", "link.n": 1})
            span.add_link(SpanContext(5, 6, is_remote=False))
            span.set_status(Status(StatusCode.ERROR, "went wrong: ü"))
    with tracer.start_as_current_span("ok status") as span:
        span.set_status(StatusCode.OK)
    with tracer.start_as_current_span("no attributes, unset status"):
        pass
    # a continued remote trace (trace state, remote parent flag) with a local child
    parent = TraceContextTextMapPropagator().extract(
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "a=1,b=2"}
    )
    with tracer.start_as_current_span("continued", context=parent), tracer.start_as_current_span("child"):
        pass
    spans = exporter.get_finished_spans()
    assert len(spans) == len(SpanKind) + 4
    assert_same_as_official(spans)
    for finished in spans:
        assert_same_as_official([finished])


def test_several_resources_scopes_and_dropped_counts(exporter: InMemorySpanExporter) -> None:
    limits = SpanLimits(
        max_span_attributes=2, max_events=1, max_links=1, max_event_attributes=1, max_link_attributes=1
    )
    first = provider_with(exporter, limits=limits)
    second = provider_with(
        exporter, Resource({"service.name": "worker"}, schema_url="https://example.test/s")
    )
    for provider, scope in ((first, "a"), (second, "b"), (first, "c"), (second, "a"), (first, "a")):
        tracer = provider.get_tracer(scope, None if scope == "c" else "2.0")
        with tracer.start_as_current_span(f"{scope} span", attributes={"x": 1, "y": 2, "z": 3}) as span:
            span.add_event("one", {"a": 1, "b": 2})
            span.add_event("two")
            span.add_link(SpanContext(7, 8, is_remote=False), {"a": 1, "b": 2})
            span.add_link(SpanContext(9, 10, is_remote=True))
    spans = exporter.get_finished_spans()
    assert spans[0].dropped_attributes == 1 and spans[0].dropped_events == 1 and spans[0].dropped_links == 1
    request = decoded(SpanEncoder().encode(spans))
    assert [len(r.scope_spans) for r in request.resource_spans] == [2, 2]  # (a, c) and (b, a)
    assert_same_as_official(spans)


@pytest.fixture
def server_span_setup(exporter: InMemorySpanExporter) -> Iterator[tuple[TracerProvider, ServerSpanHook]]:
    provider = provider_with(exporter)
    yield provider, ServerSpanHook(provider.get_tracer("glowops", "0.1.0"))
    provider.shutdown()


def test_server_spans_with_children_of_another_instrumentation(
    exporter: InMemorySpanExporter, server_span_setup: tuple[TracerProvider, ServerSpanHook]
) -> None:
    provider, hook = server_span_setup
    engine = create_engine("sqlite://")
    instrument_sqlalchemy(engine, provider)
    handle = hook.start(SCOPE_REQUEST, "req-1")
    server = trace.get_current_span()
    assert isinstance(server, ServerSpan) and server is handle[0]
    with engine.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()
    server.set_attribute("app.order", 7)  # application code adds to the server span
    hook.finish(handle, 201, "/orders/{order_id}", None)
    failing = hook.start(
        {
            **SCOPE_REQUEST,
            "headers": [(b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
        },
        "req-2",
    )
    try:
        raise ValueError("boom")
    except ValueError as exc:
        hook.finish(failing, 500, "/orders/{order_id}", exc)
    spans = exporter.get_finished_spans()
    [sql] = [s for s in spans if s.kind is SpanKind.CLIENT]
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(servers) == 2 and all(isinstance(s, ServerSpan) for s in servers)
    assert sql.parent is not None and sql.parent.span_id == servers[0].context.span_id
    assert servers[1].parent is not None and servers[1].parent.is_remote
    assert [e.name for e in servers[1].events] == ["exception"]
    assert_same_as_official(spans)
    # one encoder, warm caches, several batches: still the official bytes
    encoder = SpanEncoder()
    for _ in range(3):
        assert_same_as_official(spans, encoder)


def test_bounded_attribute_cache(
    server_span_setup: tuple[TracerProvider, ServerSpanHook], exporter: InMemorySpanExporter
) -> None:
    _, hook = server_span_setup
    for n in range(50):
        handle = hook.start({**SCOPE_REQUEST, "path": f"/orders/{n}", "client": (f"192.0.2.{n}", 1)}, "r")
        hook.finish(handle, 200 + n % 3, "/orders/{order_id}", None)
    spans = exporter.get_finished_spans()
    encoder = SpanEncoder(max_cached_keys=4, max_values_per_key=8)
    for start in range(0, 50, 10):
        assert_same_as_official(spans[start : start + 10], encoder)
    tables = [encoder._strings, encoder._ints, encoder._bools]
    assert all(len(t) <= 4 for t in tables)
    assert all(len(values) <= 8 for t in tables for values in t.values())
    # True and 1 are equal as dict keys; their encodings must not be mixed up
    flags = [_span_with(exporter, {"flag": value}) for value in (1, True, 1.0, 0, False)]
    assert_same_as_official(flags, encoder)


def _span_with(exporter: InMemorySpanExporter, attributes: dict[str, Any]) -> ReadableSpan:
    provider = provider_with(exporter)
    with provider.get_tracer("t").start_as_current_span("s", attributes=attributes):
        pass
    return exporter.get_finished_spans()[-1]


def test_attribute_that_cannot_be_encoded_is_left_out_like_the_official_encoder(
    exporter: InMemorySpanExporter,
) -> None:
    span = _span_with(exporter, {"ok": "yes"})
    broken = ReadableSpan(
        name="s",
        context=span.context,
        resource=span.resource,
        attributes={"ok": "yes", "huge": 2**70, "after": 1},
        instrumentation_scope=span.instrumentation_scope,
    )
    assert_same_as_official([broken])
    assert [
        kv.key
        for kv in decoded(SpanEncoder().encode([broken])).resource_spans[0].scope_spans[0].spans[0].attributes
    ] == ["ok", "after"]


def test_server_span_is_the_current_otel_span_for_the_rest_of_the_process(
    exporter: InMemorySpanExporter, server_span_setup: tuple[TracerProvider, ServerSpanHook]
) -> None:
    provider, hook = server_span_setup
    before = otel_context.get_current()
    handle = hook.start(SCOPE_REQUEST, "r")
    span = trace.get_current_span()
    assert isinstance(span, trace.Span) and span.is_recording()
    context = span.get_span_context()
    assert context.is_valid and context.trace_flags.sampled and not context.is_remote
    with provider.get_tracer("other").start_as_current_span("inner") as inner:
        assert inner.parent is not None and inner.parent.span_id == context.span_id  # type: ignore[attr-defined]
    # the Span API, as application code uses it (validated and limited like the SDK's span)
    span.set_attribute("app.object", object())  # type: ignore[arg-type]  # invalid: cleaned like the SDK does
    span.set_attributes({"app.list": [1, 2], "app.tuple": ("a", "b")})
    span.add_event("checkpoint", {"step": 1})
    span.add_link(SpanContext(11, 12, is_remote=True), {"why": "fan-in"})
    span.update_name("custom name")
    span.set_status(StatusCode.OK)
    span.set_status(Status(StatusCode.ERROR, "ignored: OK is final"))
    hook.finish(handle, 200, "/orders/{order_id}", None)
    assert otel_context.get_current() == before  # detached
    [exported] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    attributes = dict(exported.attributes or {})
    assert exported.name == "POST /orders/{order_id}"  # the hook names the span after routing
    assert exported.status.status_code is StatusCode.OK
    assert attributes["app.list"] == (1, 2)
    assert attributes["http.response.status_code"] == 200
    assert [e.name for e in exported.events] == ["checkpoint"]
    assert [link.context.span_id for link in exported.links] == [12]
    # changes after the end are ignored, like on the SDK's span
    span.set_attribute("late", 1)
    span.add_event("late")
    span.end()
    assert "late" not in (exported.attributes or {}) and len(exported.events) == 1
    assert len(exporter.get_finished_spans()) == 2  # ended once
    assert_same_as_official(exporter.get_finished_spans())


def test_server_span_follows_the_configured_sampler_and_limits(exporter: InMemorySpanExporter) -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    off = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    off.add_span_processor(SimpleSpanProcessor(exporter))
    hook = ServerSpanHook(off.get_tracer("glowops"))
    handle = hook.start(SCOPE_REQUEST, "r")
    span = trace.get_current_span()
    assert not span.is_recording() and span.get_span_context().is_valid
    hook.finish(handle, 200, "/orders/{order_id}", None)
    # a sampled caller wins over the root sampler (parent-based)
    handle = hook.start(
        {
            **SCOPE_REQUEST,
            "headers": [(b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
        },
        "r",
    )
    hook.finish(handle, 200, "/orders/{order_id}", None)
    [sampled] = exporter.get_finished_spans()
    assert format(sampled.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    exporter.clear()
    limited = provider_with(exporter, limits=SpanLimits(max_span_attributes=3))
    hook = ServerSpanHook(limited.get_tracer("glowops"))
    hook.finish(hook.start(SCOPE_REQUEST, "r"), 200, "/orders/{order_id}", None)
    [span_limited] = exporter.get_finished_spans()
    limited_attributes = dict(span_limited.attributes or {})
    assert len(limited_attributes) == 3 and span_limited.dropped_attributes > 0
    assert limited_attributes["http.response.status_code"] == 200  # newest kept, oldest evicted
    assert_same_as_official([span_limited])
