"""µs per request in-process with tracing and error tracking on: glowops vs bare vs the usual stack.

- bare: FastAPI, one route with a path parameter (as in ``bench_http``).
- glowops: ``glowops.instrument`` with everything on: request IDs, JSON access line with
  redaction, RED metrics, one SERVER span per request sampled at 100 % and exported through
  the bounded queue and the redacting exporter to glowops' real OTLP/HTTP exporter (its own
  protobuf encoder), whose HTTP transport discards the bytes, and Sentry initialised with a
  DSN to a local null endpoint.
- usual: asgi-correlation-id + prometheus-fastapi-instrumentator + a structlog access-log
  BaseHTTPMiddleware + OpenTelemetry's FastAPI instrumentation (BatchSpanProcessor, an exporter
  that encodes each batch with the OTLP exporter's own ``encode_spans`` and discards it).
- usual+sentry: the usual stack with Sentry as the spec configures it (default and
  auto-enabled integrations, ``traces_sample_rate=1.0``), DSN to the null endpoint.

Sentry has one global client and its FastAPI/Starlette integrations patch classes process-wide,
so the run has two phases: (1) bare, glowops, usual interleaved, with glowops' Sentry set-up
(no patching); (2) Sentry re-initialised the usual way, then bare and usual+sentry interleaved.
Every ratio is against the bare figure of its own phase. Run: ``python -m bench.bench_full``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.exporter.http.transport._base import BaseHTTPResult, BaseHTTPTransport
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench.bench_http import ASGIApp, _devnull, _time, bare_app, print_table, usual_app


class NullOTLPExporter(SpanExporter):
    """Encodes each batch exactly as the OTLP/HTTP exporter does, then drops the bytes."""

    def __init__(self) -> None:
        self.spans = 0
        self.bytes = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        payload = encode_spans(spans).SerializePartialToString()
        self.spans += len(spans)
        self.bytes += len(payload)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class _Accepted(BaseHTTPResult):
    def content(self) -> bytes:
        return b""

    def headers(self) -> Mapping[str, str]:
        return {}


class NullTransport(BaseHTTPTransport):
    """The OTLP exporter's HTTP transport, answering 200 without sending: counts the bytes."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self.spans = 0

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        data: bytes | None = None,
    ) -> BaseHTTPResult:
        self.requests += 1
        self.bytes += len(data or b"")
        return _Accepted(status_code=200, reason="OK")

    def close(self) -> None:
        return None

    def is_connection_error(self, exception: Exception | None) -> bool:
        return False


class _NullSentry(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def null_sentry() -> str:
    """A local endpoint accepting Sentry envelopes; returns its DSN."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NullSentry)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://benchkey@127.0.0.1:{server.server_address[1]}/1"


def glowops_full_app(dsn: str, transport: NullTransport) -> tuple[ASGIApp, Any]:
    import glowops
    from glowops.settings import Settings
    from glowops.telemetry import errors
    from glowops.telemetry.otlp_encoder import OTLPProtobufSpanExporter
    from glowops.telemetry.server_span import ServerSpanHook
    from glowops.telemetry.tracing import build_provider

    settings = Settings(sentry_dsn=dsn, sentry_release="bench", otel_traces_sampler="always_on")
    exporter = OTLPProtobufSpanExporter(endpoint="http://127.0.0.1:9/v1/traces", _transport=transport)
    export = exporter.export

    def counting_export(spans: Sequence[ReadableSpan]) -> SpanExportResult:
        transport.spans += len(spans)
        return export(spans)

    exporter.export = counting_export  # type: ignore[method-assign]
    tracing = build_provider(settings, exporter=exporter)
    app = bare_app()
    glowops.instrument(
        app,
        settings,
        log_stream=_devnull,
        tracer=ServerSpanHook(tracing.tracer()),
        error_reporter=errors.setup_error_tracking(settings),
        health=False,
    )
    return app, tracing


def usual_otel_app(exporter: NullOTLPExporter) -> tuple[ASGIApp, TracerProvider]:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    app = usual_app()
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    return app, provider


def _interleave(
    apps: dict[str, ASGIApp],
    rounds: int,
    requests: int,
    flushes: dict[str, Callable[[], object]] | None = None,
) -> dict[str, tuple[float, float]]:
    """Median (wall µs/request, CPU µs/request) of each app over interleaved rounds.

    ``flushes[name]`` runs inside the timed round after the requests: it exports the spans the
    round produced, so their redaction and encoding count for the stack that made them. (The
    export thread gets little of the GIL while a tight loop of requests runs; without the flush,
    part of one stack's export work would run during the next stack's round.) CPU time is the
    process's, every thread included: the export thread's work counts.
    """
    walls: dict[str, list[float]] = {name: [] for name in apps}
    cpus: dict[str, list[float]] = {name: [] for name in apps}
    flushes = flushes or {}

    async def go() -> None:
        for name, app in apps.items():
            await _time(app, 200)
            if name in flushes:
                flushes[name]()
        for _ in range(rounds):
            for name, app in apps.items():
                started, cpu = time.perf_counter(), time.process_time()
                await _time(app, requests)
                if name in flushes:
                    flushes[name]()
                walls[name].append((time.perf_counter() - started) / requests * 1e6)
                cpus[name].append((time.process_time() - cpu) / requests * 1e6)

    asyncio.run(go())
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in apps}


def run(rounds: int, requests: int) -> dict[str, tuple[float, float]]:
    """{stack: (median wall µs/request, median CPU µs/request)}; phase 2 under the names
    "bare (phase 2)" and "usual+sentry"."""
    import sentry_sdk

    dsn = null_sentry()
    glowops_transport, usual_exporter = NullTransport(), NullOTLPExporter()
    glowops_app, glowops_tracing = glowops_full_app(dsn, glowops_transport)
    usual, usual_provider = usual_otel_app(usual_exporter)
    flushes = {"glowops": glowops_tracing.processor.force_flush, "usual": usual_provider.force_flush}
    stacks: dict[str, ASGIApp] = {"bare": bare_app(), "glowops": glowops_app, "usual": usual}
    phase1 = _interleave(stacks, rounds, requests, flushes)

    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.init(dsn=dsn, traces_sample_rate=1.0)  # the spec's configuration
    usual_sentry, usual_sentry_provider = usual_otel_app(NullOTLPExporter())
    phase2 = _interleave(
        {"bare": bare_app(), "usual+sentry": usual_sentry},
        rounds,
        requests,
        {"usual+sentry": usual_sentry_provider.force_flush},
    )
    sentry_sdk.flush(timeout=5)
    sentry_sdk.get_client().close(timeout=2)
    for provider in (usual_provider, usual_sentry_provider):
        provider.shutdown()
    glowops_tracing.provider.shutdown()
    spans = glowops_transport.spans
    per_span = glowops_transport.bytes / max(spans, 1)
    print(
        f"glowops spans encoded: {spans} for {rounds * requests + 200} requests in "
        f"{glowops_transport.requests} OTLP requests ({per_span:.0f} bytes/span); "
        f"usual spans encoded: {usual_exporter.spans}"
    )
    expected = rounds * requests + 200
    if spans != expected or usual_exporter.spans != 4 * expected:
        print(
            f"WARNING: spans were dropped (glowops {spans}, usual {usual_exporter.spans} for "
            f"{expected} requests): the export queue overflowed, the figures undercount the export work"
        )
    results = dict(phase1)
    results["bare (phase 2)"] = phase2["bare"]
    results["usual+sentry"] = phase2["usual+sentry"]
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args(argv)
    results = run(args.rounds, args.requests)
    phase2 = {"bare (phase 2)": results.pop("bare (phase 2)"), "usual+sentry": results.pop("usual+sentry")}
    print("phase 1 (glowops' Sentry set-up, no patching):")
    print_table(results, args.rounds, args.requests, width=16)
    print("phase 2 (Sentry initialised the usual way; ratios against this phase's bare):")
    print_table(phase2, args.rounds, args.requests, width=16)


if __name__ == "__main__":
    main()
