"""A local OTLP/HTTP collector: decodes the protobuf ExportTraceServiceRequest the real exporter sends.

Modes: ``ok`` answers 200 with an empty ExportTraceServiceResponse; ``hang`` accepts the
request and never answers (until stopped); ``error`` answers 503.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    resource: dict[str, Any]
    status_code: int
    status_message: str
    scope: str
    trace_state: str = ""


@dataclass
class OTLPReceiver:
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)
    spans: list[ReceivedSpan] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver._record(self.path, dict(self.headers.items()), body)
                if receiver.mode == "hang":
                    receiver._release.wait(30)
                    return
                if receiver.mode == "error":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        encoding = {k.lower(): v for k, v in headers.items()}.get("content-encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={kv.key: _value(kv.value) for kv in span.attributes},
                            events=[
                                {
                                    "name": e.name,
                                    "attributes": {kv.key: _value(kv.value) for kv in e.attributes},
                                }
                                for e in span.events
                            ],
                            resource=resource,
                            status_code=span.status.code,
                            status_message=span.status.message,
                            scope=scope_spans.scope.name,
                            trace_state=span.trace_state,
                        )
                    )
        with self._lock:
            self.requests.append({"path": path, "headers": headers})
            self.spans.extend(spans)

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[ReceivedSpan]:
        """Spans once ``predicate(spans)`` holds (raises AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                spans = list(self.spans)
            if predicate(spans):
                return spans
            time.sleep(0.02)
        raise AssertionError(f"OTLP receiver: condition not met in {timeout}s; got {[s.name for s in spans]}")
