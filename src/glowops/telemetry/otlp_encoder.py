"""OTLP/HTTP protobuf encoding of spans, written by hand, and the exporter that uses it.

The OTLP exporter's own encoder (``encode_spans`` of ``opentelemetry-exporter-otlp-proto-common``)
builds one protobuf message object per span, attribute, value, event and link and then
serialises the tree: about 3 µs per attribute, 40 µs for glowops' server span. It runs on the
export thread, but holds the GIL while it does, so at 100 % sampling every request pays it.

:class:`SpanEncoder` writes the same wire format directly (protobuf encoding is a handful of
rules: varints, fixed-width numbers and length-prefixed fields) and caches the encoded bytes
of what repeats from span to span:

- the whole ``KeyValue`` field of span attributes with a string, integer or boolean value
  (method, scheme, protocol, host, port, client address, user agent, route, status...), per
  key in a bounded table (a key whose values do not repeat, such as ``url.path``, only clears
  its own table now and then);
- the encoded resource and instrumentation scope (one per provider and tracer).

The output decodes to the same ``ExportTraceServiceRequest`` as the official encoder's (the
tests compare both with the real protobuf decoder for every attribute type, events, links,
status, resources and scopes). Fields are written in field-number order, like protobuf does.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from opentelemetry.exporter.otlp.proto.http import trace_exporter as _otlp_http
from opentelemetry.exporter.otlp.proto.http._common import RequestPayloadTooLargeError, _is_request_too_large
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind

from glowops.telemetry.server_span import ServerSpan

__all__ = ["EncodedSpan", "OTLPProtobufSpanExporter", "SpanEncoder", "encode_spans"]

_logger = logging.getLogger(__name__)

_pack_q = struct.Struct("<Q").pack  # fixed64
_pack_d = struct.Struct("<d").pack  # double
_pack_i = struct.Struct("<I").pack  # fixed32
_BYTE = [bytes((i,)) for i in range(128)]
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1

# OTLP SpanKind is the SDK's enum value + 1 (0 is SPAN_KIND_UNSPECIFIED).
_KIND = {kind: _BYTE[kind.value + 1] for kind in SpanKind}
# Span.flags (fixed32): SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, | IS_REMOTE for a remote parent.
_FLAGS_LOCAL = _pack_i(0x100)
_FLAGS_REMOTE = _pack_i(0x300)
_MAX_CACHED_KEYS = 256
_MAX_VALUES_PER_KEY = 512


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _BYTE[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag byte(s), the length, the payload."""
    size = len(payload)
    return tag + (_BYTE[size] if size < 0x80 else _varint(size)) + payload


def _any_value(value: Any) -> bytes:
    """The body of an ``AnyValue`` (same type dispatch, in the same order, as the official encoder)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(b"\x0a", value.encode("utf-8"))
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"integer {value} does not fit an int64")
        return b"\x18" + _varint(value if value >= 0 else value + (1 << 64))
    if isinstance(value, float):
        return b"\x21" + _pack_d(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(item)) for item in value]))
    if isinstance(value, Mapping):
        items = [_field(b"\x0a", _key_value(str(key), item)) for key, item in value.items()]
        return _field(b"\x32", b"".join(items))
    raise TypeError(f"invalid attribute value type {type(value).__name__}")


def _key_value(key: str, value: Any) -> bytes:
    """The body of a ``KeyValue``: key (field 1) and value (field 2, always present)."""
    encoded_key = _field(b"\x0a", key.encode("utf-8")) if key else b""
    return encoded_key + _field(b"\x12", _any_value(value))


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> list[bytes]:
    """Repeated ``KeyValue`` fields with ``tag``; an attribute that cannot be encoded is
    logged and left out (as the official encoder does), never failing the batch."""
    if not attributes:
        return []
    out = []
    for key, value in attributes.items():
        try:
            out.append(_field(tag, _key_value(key, value)))
        except Exception as error:
            _logger.exception("Failed to encode key %s: %s", key, error)
    return out


class EncodedSpan(NamedTuple):
    """One span already encoded (``body``), with what groups it in a request.

    ``context`` lets it pass through the SDK's batch processor like a span.
    """

    context: SpanContext
    resource: Resource
    scope: InstrumentationScope | None
    field: bytes
    """The span as a ``ScopeSpans.spans`` field: tag, length and ``Span`` message."""


_new_tuple = tuple.__new__  # an EncodedSpan without the NamedTuple's Python-level __new__


class SpanEncoder:
    """Encodes batches of SDK spans to the bytes of an OTLP ``ExportTraceServiceRequest``.

    Keeps bounded caches (see the module docs); use one encoder per export thread.
    """

    def __init__(
        self, max_cached_keys: int = _MAX_CACHED_KEYS, max_values_per_key: int = _MAX_VALUES_PER_KEY
    ) -> None:
        self.max_cached_keys = max_cached_keys
        self.max_values_per_key = max_values_per_key
        # key -> {value: encoded span-attribute field}, one table set per value type
        self._strings: dict[str, dict[Any, bytes]] = {}
        self._ints: dict[str, dict[Any, bytes]] = {}
        self._bools: dict[str, dict[Any, bytes]] = {}
        # id(object) -> (object, encoded); the object is kept so that its id is not reused
        self._names: dict[str, bytes] = {}
        self._resources: dict[int, tuple[Resource, bytes]] = {}
        self._scopes: dict[int, tuple[InstrumentationScope | None, bytes]] = {}

    # --- cached pieces ------------------------------------------------------------------------
    def _span_attribute(self, key: str, value: Any) -> bytes:
        """The span-attribute field (tag 9) of ``key``/``value``, from the cache when it can."""
        cls = value.__class__
        # one table per value type (True == 1 as dict keys; they must not meet in one table)
        if cls is str:
            tables = self._strings
        elif cls is int:
            tables = self._ints
        elif cls is bool:
            tables = self._bools
        else:
            return _field(b"\x4a", _key_value(key, value))
        table = tables.get(key)
        if table is not None:
            encoded = table.get(value)
            if encoded is not None:
                return encoded
        encoded = _field(b"\x4a", _key_value(key, value))
        if table is None:
            if len(tables) >= self.max_cached_keys:
                return encoded
            table = tables[key] = {}
        elif len(table) >= self.max_values_per_key:
            table.clear()  # a key whose values do not repeat (a path): start afresh
        table[value] = encoded
        return encoded

    def _span_attributes(self, attributes: Mapping[str, Any]) -> list[bytes]:
        out = []
        strings = self._strings
        ints = self._ints
        for key, value in attributes.items():
            # the cache hit inline (the common case); everything else in _span_attribute
            cls = value.__class__
            table = strings.get(key) if cls is str else ints.get(key) if cls is int else None
            if table is not None:
                encoded = table.get(value)
                if encoded is not None:
                    out.append(encoded)
                    continue
            try:
                out.append(self._span_attribute(key, value))
            except Exception as error:
                _logger.exception("Failed to encode key %s: %s", key, error)
        return out

    def _resource(self, resource: Resource) -> bytes:
        cached = self._resources.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1]
        encoded = b"".join(_attributes(b"\x0a", resource.attributes))
        if len(self._resources) >= self.max_cached_keys:
            self._resources.clear()
        self._resources[id(resource)] = (resource, encoded)
        return encoded

    def _scope(self, scope: InstrumentationScope | None) -> bytes:
        cached = self._scopes.get(id(scope))
        if cached is not None and cached[0] is scope:
            return cached[1]
        if scope is None:
            encoded = b""
        else:
            parts = []
            if scope.name:
                parts.append(_field(b"\x0a", scope.name.encode("utf-8")))
            if scope.version:
                parts.append(_field(b"\x12", scope.version.encode("utf-8")))
            parts.extend(_attributes(b"\x1a", scope.attributes))
            encoded = b"".join(parts)
        if len(self._scopes) >= self.max_cached_keys:
            self._scopes.clear()
        self._scopes[id(scope)] = (scope, encoded)
        return encoded

    # --- spans --------------------------------------------------------------------------------
    def encode_span(self, span: ReadableSpan) -> bytes:
        """The body of one OTLP ``Span`` message."""
        if isinstance(span, ServerSpan):  # its fields directly: no property calls, no copies
            return self._span(
                span._context,
                span._parent,
                span._name,
                span._kind,
                span._start_time,
                span._end_time,
                span._attributes,
                span._dropped_attributes,
                span._events,
                span._dropped_events,
                span._links,
                span._dropped_links,
                span._status,
            )
        return self._span(
            span.context,
            span.parent,
            span.name,
            span.kind,
            span.start_time,
            span.end_time,
            span.attributes,
            span.dropped_attributes,
            span.events,
            span.dropped_events,
            span.links,
            span.dropped_links,
            span.status,
        )

    def _span(
        self,
        context: Any,
        parent: Any,
        name: str,
        kind: SpanKind,
        start: int | None,
        end: int | None,
        attributes: Mapping[str, Any] | None,
        dropped_attributes: int,
        events: Sequence[Any],
        dropped_events: int,
        links: Sequence[Any],
        dropped_links: int,
        status: Any,
    ) -> bytes:
        parts = [
            b"\x0a\x10",
            context.trace_id.to_bytes(16, "big"),
            b"\x12\x08",
            context.span_id.to_bytes(8, "big"),
        ]
        trace_state = context.trace_state
        if trace_state:
            text = ",".join([f"{key}={value}" for key, value in trace_state.items()])
            if text:
                parts.append(_field(b"\x1a", text.encode("utf-8")))
        if parent:
            parts.append(b"\x22\x08")
            parts.append(parent.span_id.to_bytes(8, "big"))
        if name:
            encoded_name = self._names.get(name)
            if encoded_name is None:
                encoded_name = _field(b"\x2a", name.encode("utf-8"))
                if len(self._names) >= self.max_values_per_key:
                    self._names.clear()
                self._names[name] = encoded_name
            parts.append(encoded_name)
        parts.append(b"\x30")
        parts.append(_KIND[kind])
        if start:
            parts.append(b"\x39" + _pack_q(start))
        if end:
            parts.append(b"\x41" + _pack_q(end))
        if attributes:
            parts.extend(self._span_attributes(attributes))
        if dropped_attributes:
            parts.append(b"\x50" + _varint(dropped_attributes))
        if events:
            parts.extend([_field(b"\x5a", _event(event)) for event in events])
        if dropped_events:
            parts.append(b"\x60" + _varint(dropped_events))
        if links:
            parts.extend([_field(b"\x6a", _link(link)) for link in links])
        if dropped_links:
            parts.append(b"\x70" + _varint(dropped_links))
        if status is not None:
            code = status.status_code.value
            description = status.description
            parts.append(_field(b"\x7a", _status(code, description)) if code or description else b"\x7a\x00")
        parts.append(b"\x85\x01")
        parts.append(_FLAGS_REMOTE if parent and parent.is_remote else _FLAGS_LOCAL)
        return b"".join(parts)

    def encoded(self, span: ReadableSpan) -> EncodedSpan:
        """``span`` encoded, ready to be batched by :meth:`request`."""
        return _new_tuple(
            EncodedSpan,
            (
                span.context,
                span.resource,
                span.instrumentation_scope or None,
                _field(b"\x12", self.encode_span(span)),
            ),
        )

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """The serialised ``ExportTraceServiceRequest`` of ``spans``."""
        return self.request([self.encoded(span) for span in spans])

    def request(self, spans: Sequence[EncodedSpan]) -> bytes:
        """The serialised ``ExportTraceServiceRequest`` of encoded spans, grouped by resource
        and instrumentation scope in order of first appearance (as the official encoder does)."""
        # by object first (cheap: the spans of one tracer share both), then by encoding, so
        # that equal resources or scopes held in distinct objects still share one group
        by_object: dict[tuple[int, int], tuple[Resource, InstrumentationScope | None, list[bytes]]] = {}
        for _, resource, scope, field in spans:
            key = (id(resource), id(scope))
            group = by_object.get(key)
            if group is None:
                group = by_object[key] = (resource, scope, [])
            group[2].append(field)
        groups: dict[tuple[bytes, str], dict[tuple[bytes, str], list[bytes]]] = {}
        for resource, scope, fields in by_object.values():
            resource_key = (self._resource(resource), resource.schema_url or "")
            scope_key = (self._scope(scope), (scope.schema_url or "") if scope is not None else "")
            scopes = groups.setdefault(resource_key, {})
            scopes.setdefault(scope_key, []).extend(fields)
        out = []
        for (resource_body, resource_schema), scopes in groups.items():
            parts = [_field(b"\x0a", resource_body)]
            for (scope_body, scope_schema), fields in scopes.items():
                scope_parts = [_field(b"\x0a", scope_body), *fields]
                if scope_schema:
                    scope_parts.append(_field(b"\x1a", scope_schema.encode("utf-8")))
                parts.append(_field(b"\x12", b"".join(scope_parts)))
            if resource_schema:
                parts.append(_field(b"\x1a", resource_schema.encode("utf-8")))
            out.append(_field(b"\x0a", b"".join(parts)))
        return b"".join(out)


def _event(event: Any) -> bytes:
    parts = []
    if event.timestamp:
        parts.append(b"\x09" + _pack_q(event.timestamp))
    if event.name:
        parts.append(_field(b"\x12", event.name.encode("utf-8")))
    parts.extend(_attributes(b"\x1a", event.attributes))
    dropped = getattr(event, "dropped_attributes", 0)
    if dropped:
        parts.append(b"\x20" + _varint(dropped))
    return b"".join(parts)


def _link(link: Any) -> bytes:
    context = link.context
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
        *_attributes(b"\x22", link.attributes),
    ]
    dropped = link.dropped_attributes
    if dropped:
        parts.append(b"\x28" + _varint(dropped))
    parts.append(b"\x35")
    parts.append(_FLAGS_REMOTE if context.is_remote else _FLAGS_LOCAL)
    return b"".join(parts)


def _status(code: int, description: str | None) -> bytes:
    body = _field(b"\x12", description.encode("utf-8")) if description else b""
    return body + b"\x18" + _BYTE[code] if code else body


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """Serialised ``ExportTraceServiceRequest`` of ``spans`` (a fresh encoder: no cache reuse)."""
    return SpanEncoder().encode(spans)


class OTLPProtobufSpanExporter(OTLPSpanExporter):
    """The OTLP/HTTP protobuf span exporter with :class:`SpanEncoder` for the encoding.

    Everything else - endpoint, headers, compression, timeout, retries with back-off, the
    request size limit, the exporter's own metrics - is the SDK exporter's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.encoder = SpanEncoder()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Encode and post ``spans`` (SDK spans, or :class:`EncodedSpan` from :meth:`SpanEncoder.encoded`)."""
        if self._shutdown:
            _otlp_http._logger.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                encoder = self.encoder
                data = encoder.request(
                    [span if isinstance(span, EncodedSpan) else encoder.encoded(span) for span in spans]
                )
            except Exception as error:
                _otlp_http._logger.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            if _is_request_too_large(data, self._max_request_size):
                _otlp_http._logger.warning(
                    "Dropping span batch: serialized size %d bytes exceeds max_request_size %d bytes.",
                    len(data),
                    self._max_request_size,
                )
                result.error = RequestPayloadTooLargeError(
                    f"Serialized span request size {len(data)} bytes exceeds max_request_size "
                    f"{self._max_request_size} bytes."
                )
                return SpanExportResult.FAILURE
            export_result = self._client.export(data)
            if not export_result.success:
                result.error = export_result.error
                if export_result.status_code is not None:
                    result.error_attrs = {"http.response.status_code": export_result.status_code}
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS
